"""GitHub webhook events: the table of handled (event, action) pairs, the ones ignored on purpose, and handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.integrations.github import tracking
from bot.integrations.github.checks import enqueue_check
from bot.integrations.github.tables import GitHubPullRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    session: Session
    settings: Settings
    event: str
    action: str | None
    payload: Any  # the typed view of the payload (bot.integrations.github.payloads), validated before storing
    delivery_id: str

    @property
    def actor(self) -> str:
        return self.payload.sender.login if self.payload.sender else "unknown"

    @property
    def installation_id(self) -> int | None:
        return self.payload.installation.id if self.payload.installation else None


Handler = Callable[[Delivery], dict]


def on_ping(d: Delivery) -> dict:
    return {"zen": d.payload.zen, "hook_id": d.payload.hook_id}


def on_installation(d: Delivery) -> dict:
    installation = d.payload.installation
    repos = d.payload.repositories or []
    tracking.save_installation(d.session, installation, d.action)
    if d.action in ("created", "new_permissions_accepted", "unsuspend"):
        tracking.save_repositories(d.session, installation.id, added=repos)
    elif d.action == "deleted":
        tracking.save_repositories(d.session, installation.id, removed=repos, remove_all=True)
    return {"installation": installation.id, "repositories": len(repos)}


def on_installation_repositories(d: Delivery) -> dict:
    installation_id = d.payload.installation.id
    added, removed = d.payload.repositories_added or [], d.payload.repositories_removed or []
    tracking.save_repositories(d.session, installation_id, added=added, removed=removed)
    return {"installation": installation_id, "added": len(added), "removed": len(removed)}


def on_pull_request(d: Delivery) -> dict:
    pr = tracking.save_pull_request(d.session, d.settings, d.payload)
    label = d.settings.github_override_label.lower()
    changed_label = d.payload.label is not None and d.payload.label.name.lower() == label
    # Only the labeling itself approves, so the approval names who added the label (GitHub also sends
    # `labeled` for labels a PR is opened with); removing it undoes every approval on the PR. Both are ordered
    # by the PR's own updated_at, which the label change moved: an old body replayed later changes nothing.
    when = d.payload.pull_request.updated_at
    if d.action == "labeled" and changed_label:
        tracking.approve(d.session, d.settings, pr, "label", d.actor, d.delivery_id, at=when)
    elif d.action == "unlabeled" and changed_label:
        tracking.revoke(d.session, pr, d.actor, at=when, warn_threshold=d.settings.warn_threshold)
    # A closed PR keeps its last check; a label other than the override one does not change the verdict.
    queued = pr.state == "open" and (d.action not in ("labeled", "unlabeled") or changed_label)
    if queued:
        enqueue_check(d.session, pr.repo_id, pr.repo_full_name, pr.head_sha, branch=pr.head_ref,
                      installation_id=pr.installation_id)
    return {"pull_request": f"{pr.repo_full_name}#{pr.number}", "stories": pr.story_keys, "check_queued": queued}


def on_check_suite(d: Delivery) -> dict:
    suite, repo = d.payload.check_suite, d.payload.repository
    tracking.save_repository(d.session, repo, d.installation_id)
    enqueue_check(d.session, repo.id, repo.full_name, suite.head_sha, branch=suite.head_branch,
                  installation_id=d.installation_id)
    return {"head_sha": suite.head_sha, "check_queued": True}


def on_merge_group(d: Delivery) -> dict:
    # A merge queue tests a temporary branch: a required check must report on its head SHA too, or the queue
    # waits forever. Its PRs passed this check to be queued. The branch is not scanned for story keys: GitHub
    # names it gh-readonly-queue/<base>/pr-<n>-<sha>, and "pr-104" would read as a story PR-104.
    group, repo = d.payload.merge_group, d.payload.repository
    tracking.save_repository(d.session, repo, d.installation_id)
    enqueue_check(d.session, repo.id, repo.full_name, group.head_sha, branch=None, installation_id=d.installation_id)
    return {"head_sha": group.head_sha, "check_queued": True}


def on_check_run_rerequested(d: Delivery) -> dict:
    # GitHub sends rerequested/requested_action only to the App that created the run, so the run is ours.
    run, repo = d.payload.check_run, d.payload.repository
    tracking.save_repository(d.session, repo, d.installation_id)
    enqueue_check(d.session, repo.id, repo.full_name, run.head_sha,
                  branch=run.check_suite.head_branch if run.check_suite else None, installation_id=d.installation_id)
    return {"head_sha": run.head_sha, "check_queued": True}


def on_check_run_action(d: Delivery) -> dict:
    run, repo = d.payload.check_run, d.payload.repository
    identifier = d.payload.requested_action.identifier if d.payload.requested_action else None
    if identifier not in ("approve-overrun", "revoke-override"):
        log.warning("github delivery %s: unknown check run action %r ignored", d.delivery_id, identifier)
        return {"ignored": f"unknown action {identifier!r}"}
    numbers = [pr.number for pr in run.pull_requests or []]
    condition = (GitHubPullRequest.number.in_(numbers) if numbers  # fork PRs arrive without numbers
                 else GitHubPullRequest.head_sha == run.head_sha)
    prs = list(d.session.scalars(select(GitHubPullRequest).where(
        GitHubPullRequest.repo_id == repo.id, condition).with_for_update()))
    # The payload carries no time of the click; the run's own time orders it (each re-evaluation after a
    # click moves completed_at), so a captured body replayed after a revocation is older and does nothing.
    when = run.completed_at or run.started_at
    for pr in prs:
        if identifier == "approve-overrun":
            tracking.approve(d.session, d.settings, pr, "check_action", d.actor, d.delivery_id, at=when)
        else:
            tracking.revoke(d.session, pr, d.actor, at=when, warn_threshold=d.settings.warn_threshold)
    tracking.save_repository(d.session, repo, d.installation_id)
    enqueue_check(d.session, repo.id, repo.full_name, run.head_sha, installation_id=d.installation_id)
    return {"action": identifier, "pull_requests": sorted(pr.number for pr in prs), "check_queued": True}


PULL_REQUEST_ACTIONS = ("opened", "reopened", "synchronize", "edited", "ready_for_review", "labeled", "unlabeled",
                        "closed")
HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("ping", None): on_ping,
    **{("installation", action): on_installation
       for action in ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted")},
    ("installation_repositories", "added"): on_installation_repositories,
    ("installation_repositories", "removed"): on_installation_repositories,
    **{("pull_request", action): on_pull_request for action in PULL_REQUEST_ACTIONS},
    ("check_suite", "requested"): on_check_suite,
    ("check_suite", "rerequested"): on_check_suite,
    ("check_run", "rerequested"): on_check_run_rerequested,
    ("check_run", "requested_action"): on_check_run_action,
    ("merge_group", "checks_requested"): on_merge_group,
}
# Received because of the App's subscriptions or permissions, and deliberately not acted on ("*": any action).
IGNORED: frozenset[tuple[str, str]] = frozenset({
    ("check_run", "created"), ("check_run", "completed"),  # includes our own runs: reacting would loop
    ("check_suite", "completed"), ("merge_group", "destroyed"),  # a group left the queue: nothing to report
    *(("pull_request", action) for action in (
        "assigned", "unassigned", "review_requested", "review_request_removed", "converted_to_draft", "locked",
        "unlocked", "milestoned", "demilestoned", "auto_merge_enabled", "auto_merge_disabled", "enqueued",
        "dequeued")),
    *((event, "*") for event in ("pull_request_review", "pull_request_review_comment",
                                 "pull_request_review_thread", "push", "status", "github_app_authorization",
                                 "installation_target", "meta")),
})


def route(event: str, action: str | None) -> Handler | str | None:
    """The handler for an event, "ignored" for one ignored on purpose, None for one nobody expected."""
    handler = HANDLERS.get((event, action)) or HANDLERS.get((event, None))
    if handler is not None:
        return handler
    if (event, action) in IGNORED or (event, "*") in IGNORED:
        return "ignored"
    return None
