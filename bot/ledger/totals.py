"""Story totals and story-days: what a batch of ledger rows adds to each story, and the upserts that add it.

The sums are computed in Python (`story_deltas`), the statements that add them are built once per backend
(`statement`), and `apply_totals` runs them. The PostgreSQL one-statement write (`bot.ledger.one_statement`)
embeds the same upserts in its single statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bot.db import table_of, utcnow
from bot.ledger.budgets import Verdict, judge
from bot.ledger.days import team_day
from bot.ledger.events import StoryChange
from bot.ledger.keys import project_of
from bot.ledger.tables import Story, StoryDay, StoryView
from bot.upsert import batch_insert, batch_params, is_postgres

STORY_COLUMNS = ["key", "project", "spent_tokens", "spent_nano_usd", "events", "unpriced_events",
                 "first_event_at", "last_event_at", "updated_at", "deleted"]
DAY_COLUMNS = ["story_key", "day", "tokens", "nano_usd", "events", "unpriced_events"]


@dataclass
class StoryDeltas:
    """What a batch adds to each story (`stories`, the delta a verdict "before" subtracts) and story-day."""

    stories: dict[str, dict]
    days: dict[tuple[str, date], dict]

    def story_params(self) -> list[dict]:
        # Sorted keys: concurrent writers lock story rows in one order, so they cannot deadlock.
        now = utcnow()
        return [{"key": key, "project": project_of(key), "spent_tokens": d["tokens"], "spent_nano_usd": d["nano"],
                 "events": d["events"], "unpriced_events": d["unpriced"], "first_event_at": d["first"],
                 "last_event_at": d["last"], "updated_at": now, "deleted": False}
                for key, d in sorted(self.stories.items())]

    def day_params(self) -> list[dict]:
        return [{"story_key": key, "day": day, "tokens": d["tokens"], "nano_usd": d["nano"], "events": d["events"],
                 "unpriced_events": d["unpriced"]} for (key, day), d in sorted(self.days.items())]


def story_deltas(rows: list[dict], zone: ZoneInfo, sign: int = 1) -> StoryDeltas:
    """Sum ledger rows per story and per (story, team day); `sign=-1` for rows taken out (a void)."""
    stories: dict[str, dict] = defaultdict(lambda: {"tokens": 0, "nano": 0, "events": 0, "unpriced": 0,
                                                   "first": None, "last": None})
    days: dict[tuple[str, date], dict] = defaultdict(lambda: {"tokens": 0, "nano": 0, "events": 0, "unpriced": 0})
    for row in rows:
        key = row["story_key"]
        if key is None:
            continue
        tokens = row["input_tokens"] + row["output_tokens"]
        for bucket in (stories[key], days[(key, team_day(row["occurred_at"], zone))]):
            bucket["tokens"] += sign * tokens
            bucket["nano"] += sign * row["cost_nano_usd"]
            bucket["events"] += sign
            bucket["unpriced"] += 0 if row["priced"] else sign
        story = stories[key]
        story["first"] = min(filter(None, (story["first"], row["occurred_at"])))
        story["last"] = max(filter(None, (story["last"], row["occurred_at"])))
    return StoryDeltas(dict(stories), dict(days))


def apply_totals(session: Session, rows: list[dict], warn_threshold: Decimal, zone: ZoneInfo,
                 sign: int = 1) -> list[StoryChange]:
    """Add ledger rows to their stories' totals and team-day rollups (`sign=-1` takes voided rows out)."""
    deltas = story_deltas(rows, zone, sign)
    if not deltas.stories:
        return []
    postgres = is_postgres(session)
    updated = session.execute(statement("stories", postgres), batch_params(deltas.story_params(), postgres))
    session.execute(statement("days", postgres), batch_params(deltas.day_params(), postgres))
    # Core rows, not ORM objects: building hundreds of identity-mapped objects per batch doubled ingest time.
    # The rows carry every column of `stories` by name; Row's attribute access is untyped, hence the cast.
    return changes_of(cast(list[StoryView], list(updated)), deltas, warn_threshold)


def changes_of(updated: list[StoryView], deltas: StoryDeltas, warn_threshold: Decimal) -> list[StoryChange]:
    """Each updated story with its status before the batch (its delta subtracted) and after."""
    return [StoryChange(after, judge_story(after, warn_threshold, minus=deltas.stories[after.key]).status,
                        judge_story(after, warn_threshold).status) for after in updated]


def judge_story(story: StoryView, warn_threshold: Decimal, minus: dict | None = None,
                overridden: bool = False) -> Verdict:
    """The budget verdict of a story row (optionally as it stood before `minus` was added): its unpriced
    events and a standing approval of its overrun (`overrun_approved`) are part of the judgement."""
    minus = minus or {"tokens": 0, "nano": 0, "unpriced": 0}
    return judge(budget_tokens=story.budget_tokens, budget_nano_usd=story.budget_nano_usd,
                 spent_tokens=story.spent_tokens - minus["tokens"],
                 spent_nano_usd=story.spent_nano_usd - minus["nano"],
                 unpriced_events=(story.unpriced_events or 0) - minus.get("unpriced", 0),
                 warn_threshold=warn_threshold, overridden=overridden or bool(story.overrun_approved))


@cache
def statement(name: str, postgres: bool):
    """The upsert adding story (`stories`) or story-day (`days`) deltas, built once: building it per request
    cost more than running it. On PostgreSQL the rows travel as one JSON parameter (`bot.upsert.json_insert`)."""
    table, columns, build = UPSERTS[name]
    return build(batch_insert(table, columns, postgres))


def _stories_upsert(insert):
    earliest, latest = (func.least, func.greatest) if isinstance(insert, postgresql.Insert) else (func.min, func.max)
    excluded = insert.excluded
    return insert.on_conflict_do_update(index_elements=["key"], set_={
        "spent_tokens": Story.spent_tokens + excluded.spent_tokens,
        "spent_nano_usd": Story.spent_nano_usd + excluded.spent_nano_usd,
        "events": Story.events + excluded.events,
        "unpriced_events": Story.unpriced_events + excluded.unpriced_events,
        "first_event_at": func.coalesce(earliest(Story.first_event_at, excluded.first_event_at),
                                        excluded.first_event_at),
        "last_event_at": func.coalesce(latest(Story.last_event_at, excluded.last_event_at), excluded.last_event_at),
        "updated_at": excluded.updated_at,
    }).returning(*table_of(Story).c)


def _days_upsert(insert):
    excluded = insert.excluded
    return insert.on_conflict_do_update(index_elements=["story_key", "day"], set_={
        name: getattr(StoryDay, name) + getattr(excluded, name)
        for name in ("tokens", "nano_usd", "events", "unpriced_events")})


# name -> (table, the columns a batch provides, the upsert built on an INSERT of those columns)
UPSERTS: dict[str, tuple[Table, list[str], Callable]] = {
    "stories": (table_of(Story), STORY_COLUMNS, _stories_upsert),
    "days": (table_of(StoryDay), DAY_COLUMNS, _days_upsert),
}
