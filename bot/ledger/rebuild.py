"""`budgetbot rebuild`: recompute story totals and team-day rollups from the ledger, locked against ingest."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.db import table_of
from bot.ledger.days import counted, lock_ledger, team_day, team_zone
from bot.ledger.keys import project_of
from bot.ledger.tables import Story, StoryApproval, StoryDay, UsageEvent
from bot.upsert import BulkInsert


def rebuild(session: Session, zone: str | ZoneInfo | None = None) -> dict[str, int]:
    """Recompute every story total and daily rollup from the ledger (voided events left out, days in the
    team's zone). Returns counts of what changed."""
    lock_ledger(session)  # first: every read below must see the ledger the totals are written from
    day_zone = team_zone(zone, session)
    tokens = UsageEvent.input_tokens + UsageEvent.output_tokens
    unpriced = func.sum(func.cast(~UsageEvent.priced, type_=UsageEvent.tool_calls.type))
    totals = {row.story_key: row for row in session.execute(
        select(UsageEvent.story_key, func.sum(tokens).label("tokens"),
               func.sum(UsageEvent.cost_nano_usd).label("nano"), func.count().label("events"),
               unpriced.label("unpriced"), func.min(UsageEvent.occurred_at).label("first"),
               func.max(UsageEvent.occurred_at).label("last"))
        .where(UsageEvent.story_key.is_not(None), counted()).group_by(UsageEvent.story_key))}
    approved = set(session.scalars(select(StoryApproval.story_key).where(StoryApproval.revoked_at.is_(None))))
    changed_stories = 0
    for story in session.scalars(select(Story).with_for_update()):
        row = totals.pop(story.key, None)
        wanted = (int(row.tokens), int(row.nano), int(row.events), int(row.unpriced)) if row else (0, 0, 0, 0)
        current = (story.spent_tokens, story.spent_nano_usd, story.events, story.unpriced_events)
        if wanted != current or story.overrun_approved != (story.key in approved):
            changed_stories += 1
            story.spent_tokens, story.spent_nano_usd, story.events, story.unpriced_events = wanted
            story.overrun_approved = story.key in approved
        story.first_event_at = _aware(row.first) if row else None
        story.last_event_at = _aware(row.last) if row else None
    for key, row in totals.items():  # events naming a story that has no row yet
        changed_stories += 1
        session.add(Story(key=key, project=project_of(key), spent_tokens=int(row.tokens),
                          spent_nano_usd=int(row.nano), events=int(row.events),
                          unpriced_events=int(row.unpriced), first_event_at=_aware(row.first),
                          last_event_at=_aware(row.last), overrun_approved=key in approved))
    session.flush()
    before = {(d.story_key, d.day): (d.tokens, d.nano_usd, d.events, d.unpriced_events)
              for d in session.scalars(select(StoryDay))}
    session.execute(delete(StoryDay))
    # Days are bucketed in Python with the function ingest uses, not by the database's own zone rules.
    days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for story_key, occurred, row_tokens, nano, priced in session.execute(
            select(UsageEvent.story_key, UsageEvent.occurred_at, tokens, UsageEvent.cost_nano_usd, UsageEvent.priced)
            .where(UsageEvent.story_key.is_not(None), counted()).execution_options(yield_per=10_000)):
        sums = days[(story_key, team_day(occurred, day_zone))]
        sums[0] += row_tokens
        sums[1] += nano
        sums[2] += 1
        sums[3] += 0 if priced else 1
    rows = [{"story_key": key, "day": day, "tokens": t, "nano_usd": n, "events": e, "unpriced_events": u}
            for (key, day), (t, n, e, u) in sorted(days.items())]
    if rows:
        BulkInsert(session, table_of(StoryDay), rows).execute(session)
    after = {(r["story_key"], r["day"]): (r["tokens"], r["nano_usd"], r["events"], r["unpriced_events"])
             for r in rows}
    changed_days = len(set(before.items()) ^ set(after.items()))
    return {"stories_changed": changed_stories, "day_rows_changed": changed_days}


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
