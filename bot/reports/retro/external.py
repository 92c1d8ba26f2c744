"""What the retro reads from the GitHub and scrum components: PR check outcomes, overrides and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.integrations.github.tables import GitHubCheckRun, GitHubOverride, GitHubPullRequest, GitHubPullRequestStory
from bot.reports.retro.figures import PrCheck
from bot.reports.retro.period import Period
from bot.reports.scrum.tables import Alert as AlertRow

UNKNOWN = PrCheck()


def pr_checks(session: Session, keys: list[str]) -> dict[str, PrCheck]:
    """Latest PR check conclusion and standing (unrevoked) override per story; stories with no PR are absent."""
    if not keys:
        return {}
    link, pr, run, override = GitHubPullRequestStory, GitHubPullRequest, GitHubCheckRun, GitHubOverride
    checks = session.execute(
        select(link.story_key, run.conclusion)
        .join(pr, pr.id == link.pull_request_id)
        .join(run, (run.repo_id == pr.repo_id) & (run.head_sha == pr.head_sha))
        .where(link.story_key.in_(keys))
        .order_by(link.story_key, run.posted_at)).all()
    overrides = session.execute(
        select(link.story_key, override.approved_by, override.approved_at)
        .join(override, override.pull_request_id == link.pull_request_id)
        .where(link.story_key.in_(keys), override.revoked_at.is_(None))
        .order_by(link.story_key, override.approved_at)).all()
    found: dict[str, PrCheck] = {}
    for key, conclusion in checks:  # ordered by time: the last one wins
        found[key] = PrCheck(conclusion or "unknown")
    for key, by, at in overrides:
        base = found.get(key, UNKNOWN)
        found[key] = PrCheck(base.conclusion, by, _iso(at))
    return found


@dataclass(frozen=True)
class Alert:
    at: str
    rule: str
    subject: str
    message: str


def alerts(session: Session, period: Period, limit: int = 100) -> list[Alert]:
    """Anomaly alerts raised in the period, newest first."""
    rows = session.scalars(select(AlertRow).where(AlertRow.created_at >= period.start,
                                                  AlertRow.created_at < period.end)
                           .order_by(AlertRow.created_at.desc()).limit(limit))
    return [Alert(_iso(row.created_at), row.rule, row.subject, row.message) for row in rows]


@overload
def _iso(value: datetime) -> str: ...
@overload
def _iso(value: datetime | None) -> str | None: ...
def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
