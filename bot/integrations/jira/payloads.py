"""Typed views of the issue fields a Jira webhook delivers that budgetbot stores: wrong shapes and sizes are 400s.

Jira's own limits bound each value (a summary is at most 255 characters, a display name or a status name at
most 255, a Cloud accountId at most 128); the columns hold those, so whatever passes here fits. Custom
fields (budget, story points, sprint) have site-specific ids and are read defensively where they are used.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError

# Jira never sends NUL, and PostgreSQL cannot store it in text: refused rather than a 500.
Name = Annotated[str, StringConstraints(strict=True, max_length=255, pattern=r"^[^\x00]*$")]
# A label is one word of at most 255 characters in Jira.
Label = Annotated[str, StringConstraints(strict=True, max_length=255, pattern=r"^[^\x00\s]*$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class JiraUser(_Part):
    displayName: Name | None = None
    accountId: Annotated[str, StringConstraints(strict=True, max_length=128, pattern=r"^[^\x00]*$")] | None = None
    name: Name | None = None  # Data Center: the username


class StatusCategory(_Part):
    key: Annotated[str, StringConstraints(strict=True, max_length=50)] | None = None


class JiraStatus(_Part):
    name: Name | None = None
    statusCategory: StatusCategory | None = None


class IssueFields(_Part):
    summary: Name | None = None
    assignee: JiraUser | None = None
    status: JiraStatus | None = None
    resolutiondate: Annotated[str, StringConstraints(strict=True, max_length=40)] | None = None
    labels: list[Label] | None = None


def _number_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Issue(_Part):
    # Jira issue ids are numbers, sent as strings (column: 32 characters).
    id: Annotated[str, BeforeValidator(_number_as_text), StringConstraints(pattern=r"^\d{1,18}$")] | None = None
    fields: IssueFields | None = None


class IssueInvalid(ValueError):
    def __init__(self, errors: list[dict]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


def parse_issue(issue: dict) -> Issue:
    """The typed issue of a webhook (`issue.key` is checked by the caller); raises IssueInvalid naming fields."""
    try:
        return Issue.model_validate(issue)
    except ValidationError as exc:
        raise IssueInvalid([{"path": ".".join(["issue", *(str(p) for p in e["loc"])]), "message": e["msg"]}
                            for e in exc.errors(include_url=False, include_input=False)]) from None
