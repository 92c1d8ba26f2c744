"""The sprint page's read model, from stories and the per-story day rollup (never the ledger itself)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import cast

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from bot.db import table_of
from bot.ledger.ingest import judge_story
from bot.ledger.tables import Sprint, Story, StoryDay, StoryView
from bot.reports.scrum.tables import Alert
from bot.web.pages.blocked import blocked_calls

SORTS = ("key", "summary", "assignee", "status", "budget", "spent", "percent")
STATUS_ORDER = {"over": 0, "overridden": 1, "warning": 2, "ok": 3, "no_budget": 4}
NO_SPRINT_DAYS = 14  # without sprints the page shows the last two weeks


@dataclass
class StoryRow:
    key: str
    summary: str | None
    assignee: str | None
    status: str
    budget: int | None  # in the page's unit
    spent: int
    percent: Decimal | None
    spark: list[float] = field(default_factory=list)


@dataclass
class SprintPage:
    sprints: list[Sprint]
    sprint: Sprint | None
    unit: str  # usd | tokens
    days: list[date]
    spent_line: list[float | None]
    ideal_line: list[float]
    budget_total: int
    spent_total: int
    spent_tokens: int
    spent_nano: int
    rows: list[StoryRow]
    counts: dict[str, int]
    alerts: list[Alert]
    blocked: list[dict] | None


def choose_sprint(sprints: list[Sprint], name: str | None) -> Sprint | None:
    """The one asked for, else the active one that started last, else the latest."""
    if name:
        return next((s for s in sprints if s.name == name), None)
    active = [s for s in sprints if s.state == "active"]
    found = active or sprints
    return found[0] if found else None


def window(sprint: Sprint | None, today: date) -> list[date]:
    if sprint is not None and sprint.start_at and sprint.end_at and sprint.end_at > sprint.start_at:
        first, last = sprint.start_at.date(), sprint.end_at.date()
    else:
        first, last = today - timedelta(days=NO_SPRINT_DAYS - 1), today
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# What the table and the verdict read of a story: a Core select of these columns, not ORM objects (500 identity-
# mapped Story objects cost more than the rest of the query). The rows carry what `judge_story` reads.
STORY_COLUMNS = ("key", "summary", "assignee", "budget_tokens", "budget_nano_usd", "spent_tokens", "spent_nano_usd",
                 "unpriced_events", "overrun_approved")


def load(session: Session, warn: Decimal, sprint_name: str | None, now: datetime) -> SprintPage:
    sprints = list(session.scalars(select(Sprint).order_by(Sprint.start_at.desc(), Sprint.name)))
    sprint = choose_sprint(sprints, sprint_name)
    table = table_of(Story)
    stories_q = select(*(table.c[name] for name in STORY_COLUMNS)).where(table.c.deleted.is_(False))
    if sprint is not None:
        stories_q = stories_q.where(table.c.sprint == sprint.name)
    stories = session.execute(stories_q).all()
    unit = "usd" if any(s.budget_nano_usd for s in stories) else "tokens"
    days = window(sprint, now.date())
    reached = sum(1 for d in days if d <= now.date())
    by_story = _daily(session, sprint, days, unit)
    no_spend = [0] * len(days)

    rows: list[StoryRow] = []
    counts: dict[str, int] = defaultdict(int)
    for story in stories:
        verdict = judge_story(cast(StoryView, story), warn)
        counts[verdict.status.value] += 1
        spent = story.spent_nano_usd if unit == "usd" else story.spent_tokens
        budget = story.budget_nano_usd if unit == "usd" else story.budget_tokens
        daily = by_story.get(story.key, no_spend)
        before = spent - sum(daily)  # spend before the window: the line starts where the story stood
        spark = [float(v) for v in accumulate(daily[:reached], initial=before)][1:]
        rows.append(StoryRow(story.key, story.summary, story.assignee, verdict.status.value, budget, spent,
                             verdict.worst_pct, spark))

    budget_total = sum(r.budget or 0 for r in rows)
    spent_total = sum(r.spent for r in rows)
    # Every spark has one value per day reached: the sprint's line is their column sums (zip runs in C).
    spent_line: list[float | None] = [sum(column) for column in zip(*(r.spark for r in rows))] if rows else \
        [0.0] * reached
    spent_line += [None] * (len(days) - reached)
    steps = max(len(days) - 1, 1)
    ideal = [budget_total * i / steps for i in range(len(days))]
    start = datetime.combine(days[0], time(), UTC)
    # The sprint's keys as a subquery, not 500 bound parameters (each one compiled and sent, twice).
    keys = select(table.c.key).where(table.c.deleted.is_(False), table.c.sprint == sprint.name) if sprint else None
    alerts = list(session.scalars(
        select(Alert).where(Alert.day >= days[0], Alert.day <= days[-1],
                            (Alert.story_key.in_(keys) | Alert.story_key.is_(None)) if keys is not None else true())
        .order_by(Alert.created_at.desc()).limit(20)))
    return SprintPage(sprints, sprint, unit, days, spent_line, ideal, budget_total, spent_total,
                      sum(s.spent_tokens for s in stories), sum(s.spent_nano_usd for s in stories), rows,
                      dict(counts), alerts, blocked_calls(session, keys, since=start, limit=20))


def _daily(session: Session, sprint: Sprint | None, days: list[date], unit: str) -> dict[str, list[int]]:
    """Per story, its spend on each day of the window (0 without spend): one read of the day rollup."""
    table = table_of(StoryDay)
    value = table.c.nano_usd if unit == "usd" else table.c.tokens
    # (story_key, day) is the primary key: one row per story and day, nothing to sum (and no temp B-tree).
    # Core columns, not ORM attributes: 7000 rows skip the ORM's row loading.
    query = select(table.c.story_key, table.c.day, value).where(table.c.day >= days[0], table.c.day <= days[-1])
    if sprint is not None:
        stories = table_of(Story)
        query = query.join(stories, stories.c.key == table.c.story_key).where(stories.c.sprint == sprint.name)
    index = {d: i for i, d in enumerate(days)}
    found: dict[str, list[int]] = {}
    for key, day, amount in session.execute(query).all():  # fetched at once: 7000 fetchone calls cost more
        spend = found.get(key)
        if spend is None:
            spend = found[key] = [0] * len(days)
        spend[index[day]] = amount
    return found


def sort_and_filter(rows: list[StoryRow], sort: str, descending: bool, q: str, status: str) -> list[StoryRow]:
    """Server-side, so the table works without JavaScript: `?sort=spent&dir=desc&q=checkout&status=over`."""
    needle = q.strip().lower()
    if needle:
        rows = [r for r in rows if needle in " ".join(filter(None, (r.key, r.summary, r.assignee))).lower()]
    if status:
        rows = [r for r in rows if r.status == status]
    keys = {
        "key": lambda r: _key_order(r.key),
        "summary": lambda r: (r.summary or "").lower(),
        "assignee": lambda r: (r.assignee or "").lower(),
        "status": lambda r: STATUS_ORDER.get(r.status, 9),
        "budget": lambda r: (r.budget is None, r.budget or 0),
        "spent": lambda r: r.spent,
        "percent": lambda r: (r.percent is None, r.percent or 0),
    }
    return sorted(rows, key=keys.get(sort, keys["percent"]), reverse=descending)


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.partition("-")
    return project, int(number) if number.isdigit() else 0
