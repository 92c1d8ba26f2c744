"""What budgetbot remembers of GitHub: installations, repositories, pull requests and their stories, approvals."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import utcnow
from bot.integrations.github.payloads import Installation, PullRequestEvent, Repository
from bot.integrations.github.tables import (
    GitHubInstallation,
    GitHubOverride,
    GitHubPullRequest,
    GitHubPullRequestStory,
    GitHubRepository,
)
from bot.ledger import approvals
from bot.ledger.ingest import judge_story
from bot.ledger.keys import find_keys
from bot.ledger.tables import Story
from bot.upsert import dialect_insert

log = logging.getLogger(__name__)


def save_installation(session: Session, installation: Installation, action: str | None) -> None:
    now = utcnow()
    account = (installation.account.login if installation.account else None) or ""
    stmt = dialect_insert(session, GitHubInstallation).values(
        id=installation.id, account=account, app_id=installation.app_id, updated_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
        "account": stmt.excluded.account, "app_id": stmt.excluded.app_id, "updated_at": now}))
    changes: dict[str, dict[str, datetime | None]] = {
        "deleted": {"deleted_at": now}, "suspend": {"suspended_at": now},
        "unsuspend": {"suspended_at": None}, "created": {"deleted_at": None, "suspended_at": None}}
    if action in changes:
        session.execute(update(GitHubInstallation).where(GitHubInstallation.id == installation.id)
                        .values(**changes[action]))


def save_repository(session: Session, repo: Repository, installation_id: int | None) -> None:
    """Remember a repository (and, when the payload says, which installation serves it)."""
    stmt = dialect_insert(session, GitHubRepository).values(
        id=repo.id, full_name=repo.full_name, installation_id=installation_id, removed_at=None,
        updated_at=utcnow())
    session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
        "full_name": stmt.excluded.full_name, "removed_at": None, "updated_at": stmt.excluded.updated_at,
        "installation_id": func.coalesce(stmt.excluded.installation_id, GitHubRepository.installation_id)}))


def save_repositories(session: Session, installation_id: int, added: Sequence[Repository] = (),
                      removed: Sequence[Repository] = (), remove_all: bool = False) -> None:
    for repo in sorted(added, key=lambda r: r.id):  # one lock order for concurrent deliveries
        save_repository(session, repo, installation_id)
    gone = GitHubRepository.installation_id == installation_id if remove_all else \
        GitHubRepository.id.in_([repo.id for repo in removed])
    if remove_all or removed:
        session.execute(update(GitHubRepository).where(gone).values(removed_at=utcnow()))


def save_pull_request(session: Session, settings: Settings, event: PullRequestEvent) -> GitHubPullRequest:
    """Upsert the PR of a pull_request delivery and relink its stories; a stale delivery changes nothing."""
    data, repo = event.pull_request, event.repository
    installation_id = event.installation.id if event.installation else None
    save_repository(session, repo, installation_id)
    where = (GitHubPullRequest.repo_id == repo.id, GitHubPullRequest.number == data.number)
    # Insert-or-nothing then lock: two deliveries for a new PR at once must not fail on the unique key
    # (GitHub does not redeliver a webhook that got a 500).
    session.execute(dialect_insert(session, GitHubPullRequest).values(
        repo_id=repo.id, repo_full_name=repo.full_name, number=data.number, head_sha=data.head.sha,
        title=data.title or "", state=data.state, merged=False, labels=[], story_keys=[],
        updated_at=utcnow()).on_conflict_do_nothing(index_elements=["repo_id", "number"]))
    pr = session.scalar(select(GitHubPullRequest).where(*where).with_for_update()
                        .execution_options(populate_existing=True))
    assert pr is not None  # inserted or already there, and locked
    seen = data.updated_at
    if pr.github_updated_at is not None and seen is not None and seen < pr.github_updated_at:
        log.info("github: stale delivery for %s#%s ignored (PR state is newer)", repo.full_name, data.number)
        return pr
    pr.repo_full_name = repo.full_name
    pr.installation_id = installation_id or pr.installation_id
    pr.head_sha, pr.head_ref = data.head.sha, data.head.ref
    pr.title, pr.html_url = data.title or "", data.html_url
    pr.state, pr.merged = data.state, bool(data.merged)
    pr.labels = [label.name for label in data.labels or []]
    pr.github_updated_at = seen or pr.github_updated_at
    pr.story_keys = find_keys([pr.title, pr.head_ref, data.body], settings.jira_projects)
    _relink(session, pr)
    return pr


def _relink(session: Session, pr: GitHubPullRequest) -> None:
    linked = set(session.scalars(select(GitHubPullRequestStory.story_key)
                                 .where(GitHubPullRequestStory.pull_request_id == pr.id)))
    wanted = set(pr.story_keys)
    if linked - wanted:
        session.execute(delete(GitHubPullRequestStory).where(
            GitHubPullRequestStory.pull_request_id == pr.id, GitHubPullRequestStory.story_key.in_(linked - wanted)))
    session.add_all(GitHubPullRequestStory(pull_request_id=pr.id, story_key=key) for key in sorted(wanted - linked))
    session.flush()


def _out_of_order(pr: GitHubPullRequest, at: datetime | None, *, ties_apply: bool) -> bool:
    """True when a change of approval is older than the last one applied (GitHub's own clock on both).

    The signature covers the body, not X-GitHub-Delivery, so an old signed body can come back under a new
    delivery id; its time gives it away. GitHub's times have one-second resolution: on a tie a revocation
    still applies and an approval does not (the person can label again; a wrong approval is worse)."""
    last = pr.approval_changed_at
    if at is None or last is None:
        return False
    return at < last or (at == last and not ties_apply)


def approve(session: Session, settings: Settings, pr: GitHubPullRequest, source: str, actor: str,
            delivery_id: str | None, at: datetime | None = None) -> GitHubOverride | None:
    """Record that `actor` accepted the PR's overrun (once per source while it stands); None if out of order."""
    if _out_of_order(pr, at, ties_apply=False):
        log.warning("github: approval of %s#%s by %s at %s ignored: approvals changed later (%s)",
                    pr.repo_full_name, pr.number, actor, at, pr.approval_changed_at)
        return None
    pr.approval_changed_at = at or pr.approval_changed_at
    current = session.scalar(select(GitHubOverride).where(
        GitHubOverride.pull_request_id == pr.id, GitHubOverride.source == source,
        GitHubOverride.revoked_at.is_(None)))
    if current is not None:
        return current
    stories = {story.key: judge_story(story, settings.warn_threshold).status.value
               for story in session.scalars(select(Story).where(Story.key.in_(pr.story_keys)))}
    override = GitHubOverride(pull_request_id=pr.id, source=source, approved_by=actor, approved_at=utcnow(),
                              head_sha=pr.head_sha, stories=stories, delivery_id=delivery_id)
    session.add(override)
    session.flush()
    # The approval is a core fact too: the story is `overridden` in the API, the digest, Jira and preflight.
    for key in pr.story_keys:
        approvals.approve(session, key, actor, f"{pr.repo_full_name}#{pr.number}", f"github-{source}",
                          settings.warn_threshold, reference=f"github-override:{override.id}")
    log.info("github: overrun of %s#%s approved by %s via %s (stories %s)", pr.repo_full_name, pr.number, actor,
             source, stories)
    return override


def revoke(session: Session, pr: GitHubPullRequest, actor: str, at: datetime | None = None,
           warn_threshold: Decimal = Decimal("0.8")) -> int:
    """Undo every standing approval on the PR; the rows stay, marked revoked, for the audit trail."""
    if _out_of_order(pr, at, ties_apply=True):
        log.warning("github: revocation on %s#%s by %s at %s ignored: approvals changed later (%s)",
                    pr.repo_full_name, pr.number, actor, at, pr.approval_changed_at)
        return 0
    pr.approval_changed_at = at or pr.approval_changed_at
    standing = list(session.scalars(select(GitHubOverride).where(
        GitHubOverride.pull_request_id == pr.id, GitHubOverride.revoked_at.is_(None))))
    for override in standing:
        for key in pr.story_keys:
            approvals.revoke(session, key, actor, f"{pr.repo_full_name}#{pr.number}", warn_threshold,
                             reference=f"github-override:{override.id}")
    # An UPDATE runs on a cursor: Session.execute is typed as returning Result, which has no rowcount.
    result = cast(CursorResult, session.execute(update(GitHubOverride).where(
        GitHubOverride.pull_request_id == pr.id, GitHubOverride.revoked_at.is_(None))
        .values(revoked_by=actor, revoked_at=utcnow())))
    if result.rowcount:
        log.info("github: approval of %s#%s revoked by %s", pr.repo_full_name, pr.number, actor)
    return result.rowcount
