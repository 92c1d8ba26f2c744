"""The story page's read model: totals, days, and breakdowns from the rollups; only the last calls from the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.guardrails.tables import Breaker
from bot.integrations.github.tables import GitHubCheckRun, GitHubPullRequest, GitHubPullRequestStory
from bot.ledger.tables import RunStat, Story, StoryDay, UsageDay, UsageEvent
from bot.reports.scrum.tables import Alert

RECENT = 20


@dataclass
class Days:
    days: list[date]
    tokens: list[int]  # cumulative
    nano: list[int]


def days(session: Session, key: str, today: date) -> Days:
    """Cumulative spend per day from the first day with spend to today: days without spend are kept (flat)."""
    rows = {d.day: d for d in session.scalars(select(StoryDay).where(StoryDay.story_key == key))}
    if not rows:
        return Days([], [], [])
    first, last = min(rows), max(max(rows), today)
    out = Days([], [], [])
    toks = nano = 0
    for n in range((last - first).days + 1):
        d = first + timedelta(days=n)
        if d in rows:
            toks += rows[d].tokens
            nano += rows[d].nano_usd
        out.days.append(d)
        out.tokens.append(toks)
        out.nano.append(nano)
    return out


def by(session: Session, key: str, column) -> list[dict]:
    """Spend of the story per model or agent, from the day rollup; biggest first."""
    rows = session.execute(
        select(column, func.sum(UsageDay.tokens), func.sum(UsageDay.nano_usd), func.sum(UsageDay.events),
               func.sum(UsageDay.errors))
        .where(UsageDay.story_key == key).group_by(column).order_by(func.sum(UsageDay.nano_usd).desc()).limit(15))
    return [{"name": name or "", "tokens": int(t), "nano": int(n), "events": int(e), "errors": int(err)}
            for name, t, n, e, err in rows]


def runs(session: Session, key: str, error_streak: int) -> list[dict]:
    """The story's most expensive runs; a run whose calls mostly failed, or failed in a streak, is a runaway."""
    found = []
    for run in session.scalars(select(RunStat).where(RunStat.story_key == key)
                               .order_by(RunStat.nano_usd.desc()).limit(15)):
        runaway = run.max_error_streak >= error_streak or (run.events >= error_streak and
                                                          run.errors * 2 > run.events)
        found.append({"run": run, "runaway": runaway})
    return found


def recent_calls(session: Session, key: str) -> list[UsageEvent]:
    # The (story_key, occurred_at) index makes this a short walk from the end, however long the ledger.
    return list(session.scalars(select(UsageEvent).where(UsageEvent.story_key == key)
                                .order_by(UsageEvent.occurred_at.desc(), UsageEvent.id.desc()).limit(RECENT)))


def pull_requests(session: Session, key: str) -> list[dict]:
    rows = session.execute(
        select(GitHubPullRequest, GitHubCheckRun.conclusion)
        .join(GitHubPullRequestStory, GitHubPullRequestStory.pull_request_id == GitHubPullRequest.id)
        .outerjoin(GitHubCheckRun, (GitHubCheckRun.repo_id == GitHubPullRequest.repo_id)
                   & (GitHubCheckRun.head_sha == GitHubPullRequest.head_sha))
        .where(GitHubPullRequestStory.story_key == key).order_by(GitHubPullRequest.updated_at.desc()).limit(20))
    return [{"pr": pr, "check": conclusion} for pr, conclusion in rows]


def alerts(session: Session, key: str) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.story_key == key)
                                .order_by(Alert.created_at.desc()).limit(RECENT)))


def breakers(session: Session, story: Story, agents: list[str], run_ids: list[str]) -> list[Breaker]:
    """Tripped kill switches that stop this story's agents: on everything, the story, its agents or runs."""
    return list(session.scalars(select(Breaker).where(Breaker.cleared_at.is_(None), or_(
        Breaker.scope == "all",
        (Breaker.scope == "story") & (Breaker.target == story.key),
        (Breaker.scope == "agent") & Breaker.target.in_(agents),
        (Breaker.scope == "run") & Breaker.target.in_(run_ids))).order_by(Breaker.tripped_at)))
