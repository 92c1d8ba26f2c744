"""The spend ledger: append usage events and keep story totals and daily rollups in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from bot.db import table_of, utcnow
from bot.ledger import events as domain
from bot.ledger import one_statement, rollups
from bot.ledger.budgets import usd_to_nano
from bot.ledger.days import team_zone
from bot.ledger.events import StoryChange
from bot.ledger.keys import project_of
from bot.ledger.pricing import Pricer
from bot.ledger.tables import Story, UsageEvent
from bot.ledger.totals import apply_totals, judge_story
from bot.ledger.usage_shapes import UsageEventIn
from bot.upsert import is_postgres


class EventConflict(ValueError):
    """An event_id already stored (or repeated in the batch) with different content."""

    def __init__(self, index: int, event_id: str) -> None:
        super().__init__(f"event_id {event_id!r} was already recorded with different content")
        self.index = index
        self.event_id = event_id


@dataclass(frozen=True)
class EventResult:
    event_id: str
    result: str  # accepted | duplicate
    cost_nano_usd: int | None
    priced: bool | None
    story: str | None


@dataclass(frozen=True)
class IngestResult:
    events: list[EventResult]
    changes: list[StoryChange]  # stories whose totals moved, with their status before and after


def ingest(session: Session, events: list[UsageEventIn], pricer: Pricer, warn_threshold: Decimal,
           now: datetime | None = None, zone: str | ZoneInfo | None = None) -> IngestResult:
    """Record `events`; duplicates (same event_id, same content) count once, conflicts raise EventConflict.
    Daily rollups bucket by the team's day (`zone`, default BUDGETBOT_TIMEZONE)."""
    now = now or utcnow()
    day_zone = team_zone(zone, session)
    rows: list[dict] = []
    hashes: dict[str, str] = {}
    results: list[EventResult] = []
    for index, event in enumerate(events):
        digest = event.content_hash()
        if event.event_id in hashes:
            if hashes[event.event_id] != digest:
                raise EventConflict(index, event.event_id)
            continue
        hashes[event.event_id] = digest
        rows.append(_row(event, digest, pricer, now))
    # One insert order for every writer: concurrent batches sharing event_ids then wait on each other's
    # unique-index entries in the same order instead of deadlocking.
    rows.sort(key=lambda row: row["event_id"])

    written = one_statement.write(session, rows, warn_threshold, day_zone) if rows and is_postgres(session) else None
    inserted = set(written.inserted) if written is not None else _insert(session, rows)
    _check_duplicates(session, events, hashes, inserted)

    fresh = [row for row in rows if row["event_id"] in inserted]
    by_id = {row["event_id"]: row for row in rows}
    for event in events:
        row = by_id[event.event_id]
        is_new = event.event_id in inserted
        # An unpriced event has no cost (None, shown as null), never a cost of 0.
        results.append(EventResult(event.event_id, "accepted" if is_new else "duplicate",
                                   row["cost_nano_usd"] if is_new and row["priced"] else None,
                                   row["priced"] if is_new else None, event.story))
        inserted.discard(event.event_id)  # a repeat inside the batch is a duplicate of the first
    if written is not None and written.changes is not None:
        changes, totals = written.changes, written.totals
    else:  # SQLite, or a PostgreSQL batch with duplicates: the totals of the fresh rows, statement by statement
        changes = apply_totals(session, fresh, warn_threshold, day_zone)
        totals = rollups.apply(session, fresh, zone=day_zone)  # per agent/model/run rollups
    domain.emit(domain.USAGE_RECORDED, session, fresh)
    domain.emit(domain.RUNS_UPDATED, session, totals)
    domain.emit(domain.SPEND_CHANGED, session, changes)
    return IngestResult(results, changes)


def _insert(session: Session, rows: list[dict]) -> set[str]:
    """Insert the rows that are new (SQLite: an executemany); returns their event_ids."""
    if not rows:
        return set()
    return set(session.execute(_insert_statement(), rows).scalars())


@cache
def _insert_statement():
    # Core, not ORM, and built once: the ledger is append-only and this is the hot path.
    table = table_of(UsageEvent)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["event_id"]).returning(table.c.event_id)


def _row(event: UsageEventIn, digest: str, pricer: Pricer, now: datetime) -> dict:
    counts = event.counts()
    occurred = (event.occurred_at or now).astimezone(UTC)
    family: str | None  # Priced.family is optional (model_family is a nullable column)
    if event.cost_usd is not None:
        nano, priced, source = usd_to_nano(event.cost_usd), True, "client"
        family = pricer.family(event.model, event.provider, occurred.date())
    else:
        priced_cost = pricer.price(counts, event.model, event.provider, occurred)
        nano, priced, source = priced_cost.nano_usd, priced_cost.priced, priced_cost.source
        family = priced_cost.family
        if event.is_batch_tier:
            nano //= 2  # Anthropic bills the batch tier at half price
    return {
        "event_id": event.event_id, "content_hash": digest, "story_key": event.story,
        "occurred_at": occurred, "received_at": now, "agent": event.agent, "model": event.model,
        "model_family": family, "provider": event.provider, "run_id": event.run_id, "input_tokens": counts.input,
        "output_tokens": counts.output, "cache_read_tokens": counts.cache_read,
        "cache_write_tokens": counts.cache_write, "reasoning_tokens": counts.reasoning,
        "tool_calls": event.tool_calls, "cost_nano_usd": nano, "priced": priced, "price_source": source,
        "outcome": event.outcome, "latency_ms": event.latency_ms, "attributes": event.attributes,
        "reservation_id": event.reservation_id,
    }


def _check_duplicates(session: Session, events: list[UsageEventIn], hashes: dict[str, str],
                      inserted: set[str]) -> None:
    skipped = [event_id for event_id in hashes if event_id not in inserted]
    if not skipped:
        return
    stored = dict(session.execute(
        select(UsageEvent.event_id, UsageEvent.content_hash).where(UsageEvent.event_id.in_(skipped))).all())
    for index, event in enumerate(events):
        if event.event_id in stored and stored[event.event_id] != hashes[event.event_id]:
            raise EventConflict(index, event.event_id)


def set_budget(session: Session, key: str, tokens: int | None, nano_usd: int | None,
               warn_threshold: Decimal, *, clear_missing: bool = False) -> StoryChange:
    """Set a story's budget. Unless `clear_missing`, a part not given (None) keeps its old value."""
    story = session.get(Story, key, with_for_update=True)
    if story is None:
        story = Story(key=key, project=project_of(key), spent_tokens=0, spent_nano_usd=0, events=0,
                      unpriced_events=0)
        session.add(story)
    before = judge_story(story, warn_threshold).status
    if tokens is not None or clear_missing:
        story.budget_tokens = tokens
    if nano_usd is not None or clear_missing:
        story.budget_nano_usd = nano_usd
    session.flush()
    change = StoryChange(story, before, judge_story(story, warn_threshold).status)
    domain.emit(domain.BUDGET_CHANGED, session, [change])
    return change


from bot.ledger.rebuild import rebuild  # noqa: E402,F401  (`budgetbot rebuild` imports it from here)
