"""Typed views of the parts of GitHub webhook payloads budgetbot reads: a wrong type or size is a 400, not a crash.

Only the fields the handlers use are declared; everything else GitHub sends is ignored, so a new field in a
payload never breaks a delivery. Limits are GitHub's own (or the column's where GitHub documents none), so a
signed payload that passes here always fits the tables.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# Database ids are BIGINT; GitHub always sends them as JSON numbers, so a string "123" is as wrong as "abc".
GitHubId = Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]
# Issue and PR numbers are GraphQL `Int`s: 32-bit signed.
Number = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
# A commit id: SHA-1 (40 hex digits) or, in SHA-256 repositories, 64.
Sha = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?$")]
# Logins are at most 39 characters; apps appear as "name[bot]" (column: 200).
Login = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
# "owner/name": an owner is at most 39 characters and a name at most 100 (column: 300).
FullName = Annotated[str, StringConstraints(strict=True, max_length=300, pattern=r"^[^/\s]+/[^/\s]+$")]
# Branch names are file names in refs/heads/ (GitHub refuses components over 255 bytes); column: 300.
Ref = Annotated[str, StringConstraints(strict=True, max_length=300, pattern=r"^[^\x00]*$")]
# GitHub never sends NUL, and PostgreSQL cannot store it in text: refused rather than a 500.
Text = Annotated[str, StringConstraints(strict=True, pattern=r"^[^\x00]*$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Part):
    login: Login


class Account(_Part):
    login: Login | None = None


class InstallationRef(_Part):
    id: GitHubId


class Installation(InstallationRef):
    account: Account | None = None
    app_id: GitHubId | None = None


class Repository(_Part):
    id: GitHubId
    full_name: FullName


class Label(_Part):
    name: Annotated[str, StringConstraints(strict=True, max_length=100, pattern=r"^[^\x00]*$")]  # GitHub: 50


class Head(_Part):
    sha: Sha
    ref: Ref | None = None


class PullRequest(_Part):
    number: Number
    head: Head
    state: Literal["open", "closed"]
    title: Text | None = None
    body: Text | None = None
    html_url: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None
    merged: bool | None = None
    labels: list[Label] | None = None
    # GitHub's time of the PR's last change: labeling and unlabeling move it, so it orders those events.
    updated_at: AwareDatetime | None = None


class _Event(_Part):
    sender: User | None = None
    installation: InstallationRef | None = None


class Ping(_Part):
    zen: Text | None = None
    hook_id: int | None = None


class InstallationEvent(_Event):
    installation: Installation
    repositories: list[Repository] | None = None


class InstallationRepositoriesEvent(_Event):
    installation: InstallationRef
    repositories_added: list[Repository] | None = None
    repositories_removed: list[Repository] | None = None


class PullRequestEvent(_Event):
    pull_request: PullRequest
    repository: Repository
    label: Label | None = None


class CheckSuite(_Part):
    head_sha: Sha
    head_branch: Ref | None = None


class SuiteRef(_Part):
    head_branch: Ref | None = None


class PullRequestRef(_Part):
    number: Number


class CheckRun(_Part):
    head_sha: Sha
    check_suite: SuiteRef | None = None
    pull_requests: list[PullRequestRef] | None = None
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None


class RequestedAction(_Part):
    identifier: Annotated[str, StringConstraints(strict=True, max_length=20)]  # GitHub's own limit


class CheckSuiteEvent(_Event):
    check_suite: CheckSuite
    repository: Repository


class CheckRunEvent(_Event):
    check_run: CheckRun
    repository: Repository
    requested_action: RequestedAction | None = None


class MergeGroup(_Part):
    head_sha: Sha
    head_ref: Ref | None = None


class MergeGroupEvent(_Event):
    merge_group: MergeGroup
    repository: Repository


MODELS: dict[str, type[_Part]] = {
    "ping": Ping,
    "installation": InstallationEvent,
    "installation_repositories": InstallationRepositoriesEvent,
    "pull_request": PullRequestEvent,
    "check_suite": CheckSuiteEvent,
    "check_run": CheckRunEvent,
    "merge_group": MergeGroupEvent,
}


class PayloadInvalid(ValueError):
    """A signed payload whose fields are missing or not of the type and size GitHub documents."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


def parse(event: str, payload: dict) -> _Part:
    """The typed view of a handled event's payload; raises PayloadInvalid naming each bad field."""
    try:
        return MODELS[event].model_validate(payload)
    except ValidationError as exc:
        errors = [{"path": ".".join(str(part) for part in error["loc"]) or "body", "message": error["msg"]}
                  for error in exc.errors(include_url=False, include_input=False)]
        raise PayloadInvalid(errors) from None
