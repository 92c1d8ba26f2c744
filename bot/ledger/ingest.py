"""The spend ledger: append usage events and keep story totals and daily rollups in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import table_of, utcnow
from bot.ledger import events as domain
from bot.ledger import rollups
from bot.ledger.budgets import Verdict, judge, usd_to_nano
from bot.ledger.days import team_day, team_zone
from bot.ledger.events import StoryChange
from bot.ledger.keys import project_of
from bot.ledger.pricing import Pricer
from bot.ledger.tables import Story, StoryDay, StoryView, UsageEvent
from bot.ledger.usage_shapes import UsageEventIn
from bot.upsert import BulkInsert, is_postgres


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

    inserted: set[str] = set()
    if rows:
        # Core, not ORM, insert: the ledger is append-only and this is the hot path.
        table = table_of(UsageEvent)
        bulk = BulkInsert(session, table, rows)
        stmt = bulk.stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(table.c.event_id)
        inserted = set(bulk.execute(session, stmt).scalars())
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
    changes = apply_totals(session, fresh, warn_threshold, day_zone)
    totals = rollups.apply(session, fresh, zone=day_zone)  # per agent/model/run rollups
    domain.emit(domain.USAGE_RECORDED, session, fresh)
    domain.emit(domain.RUNS_UPDATED, session, totals)
    domain.emit(domain.SPEND_CHANGED, session, changes)
    return IngestResult(results, changes)


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


def apply_totals(session: Session, rows: list[dict], warn_threshold: Decimal, zone: ZoneInfo,
                 sign: int = 1) -> list[StoryChange]:
    """Add ledger rows to their stories' totals and team-day rollups (`sign=-1` takes voided rows out)."""
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
    if not stories:
        return []
    # Sorted keys: concurrent writers lock story rows in one order, so they cannot deadlock.
    updated = _add_to_stories(session, [(key, stories[key]) for key in sorted(stories)])
    _add_to_days(session, [(key, day, days[(key, day)]) for key, day in sorted(days)])
    changes = []
    for after in updated:
        before = judge_story(after, warn_threshold, minus=stories[after.key]).status
        changes.append(StoryChange(after, before, judge_story(after, warn_threshold).status))
    return changes


def _add_to_stories(session: Session, deltas: list[tuple[str, dict]]) -> list[StoryView]:
    """One multi-row upsert adding each delta to its story's totals; returns the updated rows (read-only)."""
    now = utcnow()
    params = [{"key": key, "project": project_of(key), "spent_tokens": d["tokens"], "spent_nano_usd": d["nano"],
               "events": d["events"], "unpriced_events": d["unpriced"], "first_event_at": d["first"],
               "last_event_at": d["last"], "updated_at": now, "deleted": False} for key, d in deltas]
    bulk = BulkInsert(session, table_of(Story), params)
    stmt = bulk.stmt
    earliest, latest = (func.least, func.greatest) if is_postgres(session) else (func.min, func.max)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
        "spent_tokens": Story.spent_tokens + stmt.excluded.spent_tokens,
        "spent_nano_usd": Story.spent_nano_usd + stmt.excluded.spent_nano_usd,
        "events": Story.events + stmt.excluded.events,
        "unpriced_events": Story.unpriced_events + stmt.excluded.unpriced_events,
        "first_event_at": func.coalesce(earliest(Story.first_event_at, stmt.excluded.first_event_at),
                                        stmt.excluded.first_event_at),
        "last_event_at": func.coalesce(latest(Story.last_event_at, stmt.excluded.last_event_at),
                                       stmt.excluded.last_event_at),
        "updated_at": stmt.excluded.updated_at,
    })
    # Core rows, not ORM objects: building hundreds of identity-mapped objects per batch doubled ingest time.
    # The rows carry every column of `stories` by name; Row's attribute access is untyped, hence the cast.
    return cast(list[StoryView], list(bulk.execute(session, stmt.returning(*table_of(Story).c))))


def _add_to_days(session: Session, deltas: list[tuple[str, date, dict]]) -> None:
    params = [{"story_key": key, "day": day, "tokens": d["tokens"], "nano_usd": d["nano"], "events": d["events"],
               "unpriced_events": d["unpriced"]} for key, day, d in deltas]
    bulk = BulkInsert(session, table_of(StoryDay), params)
    stmt = bulk.stmt
    stmt = stmt.on_conflict_do_update(index_elements=["story_key", "day"], set_={
        "tokens": StoryDay.tokens + stmt.excluded.tokens,
        "nano_usd": StoryDay.nano_usd + stmt.excluded.nano_usd,
        "events": StoryDay.events + stmt.excluded.events,
        "unpriced_events": StoryDay.unpriced_events + stmt.excluded.unpriced_events,
    })
    bulk.execute(session, stmt)


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
