"""The spend ledger: append usage events and keep story totals and daily rollups in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Row, delete, func, literal_column, select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.ledger import events as domain
from bot.ledger import rollups
from bot.ledger.budgets import judge, usd_to_nano
from bot.ledger.events import StoryChange
from bot.ledger.keys import project_of
from bot.ledger.pricing import Pricer
from bot.ledger.tables import Story, StoryDay, UsageEvent
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
           now: datetime | None = None) -> IngestResult:
    """Record `events`; duplicates (same event_id, same content) count once, conflicts raise EventConflict."""
    now = now or utcnow()
    rows, hashes, results = [], {}, []
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
        table = UsageEvent.__table__
        bulk = BulkInsert(session, table, rows)
        stmt = bulk.stmt.on_conflict_do_nothing(index_elements=["event_id"]).returning(table.c.event_id)
        inserted = set(bulk.execute(session, stmt).scalars())
    _check_duplicates(session, events, hashes, inserted)

    fresh = [row for row in rows if row["event_id"] in inserted]
    by_id = {row["event_id"]: row for row in rows}
    for event in events:
        row = by_id[event.event_id]
        is_new = event.event_id in inserted
        results.append(EventResult(event.event_id, "accepted" if is_new else "duplicate",
                                   row["cost_nano_usd"] if is_new else None,
                                   row["priced"] if is_new else None, event.story))
        inserted.discard(event.event_id)  # a repeat inside the batch is a duplicate of the first
    changes = _apply_totals(session, fresh, warn_threshold)
    totals = rollups.apply(session, fresh)  # per agent/model/run rollups
    domain.emit(domain.USAGE_RECORDED, session, fresh)
    domain.emit(domain.RUNS_UPDATED, session, totals)
    domain.emit(domain.SPEND_CHANGED, session, changes)
    return IngestResult(results, changes)


def _row(event: UsageEventIn, digest: str, pricer: Pricer, now: datetime) -> dict:
    counts = event.counts()
    occurred = (event.occurred_at or now).astimezone(UTC)
    if event.cost_usd is not None:
        nano, priced, source = usd_to_nano(event.cost_usd), True, "client"
    else:
        priced_cost = pricer.price(counts, event.model, event.provider, occurred)
        nano, priced, source = priced_cost.nano_usd, priced_cost.priced, priced_cost.source
        if event.is_batch_tier:
            nano //= 2  # Anthropic bills the batch tier at half price
    return {
        "event_id": event.event_id, "content_hash": digest, "story_key": event.story,
        "occurred_at": occurred, "received_at": now, "agent": event.agent, "model": event.model,
        "provider": event.provider, "run_id": event.run_id, "input_tokens": counts.input,
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


def _apply_totals(session: Session, rows: list[dict], warn_threshold: Decimal) -> list[StoryChange]:
    stories: dict[str, dict] = defaultdict(lambda: {"tokens": 0, "nano": 0, "events": 0, "unpriced": 0,
                                                   "first": None, "last": None})
    days: dict[tuple[str, object], dict] = defaultdict(lambda: {"tokens": 0, "nano": 0, "events": 0, "unpriced": 0})
    for row in rows:
        key = row["story_key"]
        if key is None:
            continue
        tokens = row["input_tokens"] + row["output_tokens"]
        for bucket in (stories[key], days[(key, row["occurred_at"].date())]):
            bucket["tokens"] += tokens
            bucket["nano"] += row["cost_nano_usd"]
            bucket["events"] += 1
            bucket["unpriced"] += 0 if row["priced"] else 1
        story = stories[key]
        story["first"] = min(filter(None, (story["first"], row["occurred_at"])))
        story["last"] = max(filter(None, (story["last"], row["occurred_at"])))
    if not stories:
        return []
    # Sorted keys: concurrent writers lock story rows in one order, so they cannot deadlock.
    updated = _add_to_stories(session, [(key, stories[key]) for key in sorted(stories)])
    _add_to_days(session, [(key, day, days[(key, day)]) for key, day in sorted(days)])
    changes = []
    for story in updated:
        before = judge_story(story, warn_threshold, minus=stories[story.key]).status
        changes.append(StoryChange(story, before, judge_story(story, warn_threshold).status))
    return changes


def _add_to_stories(session: Session, deltas: list[tuple[str, dict]]) -> list[Row]:
    """One multi-row upsert adding each delta to its story's totals; returns the updated rows (read-only)."""
    now = utcnow()
    params = [{"key": key, "project": project_of(key), "spent_tokens": d["tokens"], "spent_nano_usd": d["nano"],
               "events": d["events"], "unpriced_events": d["unpriced"], "first_event_at": d["first"],
               "last_event_at": d["last"], "updated_at": now, "deleted": False} for key, d in deltas]
    bulk = BulkInsert(session, Story.__table__, params)
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
    return list(bulk.execute(session, stmt.returning(*Story.__table__.c)))


def _add_to_days(session: Session, deltas: list[tuple[str, date, dict]]) -> None:
    params = [{"story_key": key, "day": day, "tokens": d["tokens"], "nano_usd": d["nano"], "events": d["events"],
               "unpriced_events": d["unpriced"]} for key, day, d in deltas]
    bulk = BulkInsert(session, StoryDay.__table__, params)
    stmt = bulk.stmt
    stmt = stmt.on_conflict_do_update(index_elements=["story_key", "day"], set_={
        "tokens": StoryDay.tokens + stmt.excluded.tokens,
        "nano_usd": StoryDay.nano_usd + stmt.excluded.nano_usd,
        "events": StoryDay.events + stmt.excluded.events,
        "unpriced_events": StoryDay.unpriced_events + stmt.excluded.unpriced_events,
    })
    bulk.execute(session, stmt)


def judge_story(story: Story, warn_threshold: Decimal, minus: dict | None = None, overridden: bool = False):
    """The budget verdict of a story row (optionally as it stood before `minus` was added)."""
    minus = minus or {"tokens": 0, "nano": 0}
    return judge(budget_tokens=story.budget_tokens, budget_nano_usd=story.budget_nano_usd,
                 spent_tokens=story.spent_tokens - minus["tokens"],
                 spent_nano_usd=story.spent_nano_usd - minus["nano"],
                 warn_threshold=warn_threshold, overridden=overridden)


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


def rebuild(session: Session) -> dict[str, int]:
    """Recompute every story total and daily rollup from the ledger. Returns counts of what changed."""
    tokens = UsageEvent.input_tokens + UsageEvent.output_tokens
    unpriced = func.sum(func.cast(~UsageEvent.priced, type_=UsageEvent.tool_calls.type))
    totals = {row.story_key: row for row in session.execute(
        select(UsageEvent.story_key, func.sum(tokens).label("tokens"),
               func.sum(UsageEvent.cost_nano_usd).label("nano"), func.count().label("events"),
               unpriced.label("unpriced"), func.min(UsageEvent.occurred_at).label("first"),
               func.max(UsageEvent.occurred_at).label("last"))
        .where(UsageEvent.story_key.is_not(None)).group_by(UsageEvent.story_key))}
    changed_stories = 0
    for story in session.scalars(select(Story).with_for_update()):
        row = totals.pop(story.key, None)
        wanted = (int(row.tokens), int(row.nano), int(row.events), int(row.unpriced)) if row else (0, 0, 0, 0)
        current = (story.spent_tokens, story.spent_nano_usd, story.events, story.unpriced_events)
        if wanted != current:
            changed_stories += 1
            story.spent_tokens, story.spent_nano_usd, story.events, story.unpriced_events = wanted
        story.first_event_at = _aware(row.first) if row else None
        story.last_event_at = _aware(row.last) if row else None
    for key, row in totals.items():  # events naming a story that has no row yet
        changed_stories += 1
        session.add(Story(key=key, project=project_of(key), spent_tokens=int(row.tokens),
                          spent_nano_usd=int(row.nano), events=int(row.events),
                          unpriced_events=int(row.unpriced), first_event_at=_aware(row.first),
                          last_event_at=_aware(row.last)))
    session.flush()
    before = {(d.story_key, d.day): (d.tokens, d.nano_usd, d.events, d.unpriced_events)
              for d in session.scalars(select(StoryDay))}
    session.execute(delete(StoryDay))
    rows = []
    day_of_event = _day(session)
    for story_key, day, day_tokens, nano, events, day_unpriced in session.execute(
            select(UsageEvent.story_key, day_of_event, func.sum(tokens), func.sum(UsageEvent.cost_nano_usd),
                   func.count(), unpriced)
            .where(UsageEvent.story_key.is_not(None)).group_by(UsageEvent.story_key, day_of_event)):
        rows.append({"story_key": story_key, "day": _as_date(day), "tokens": int(day_tokens),
                     "nano_usd": int(nano), "events": int(events), "unpriced_events": int(day_unpriced)})
    if rows:
        BulkInsert(session, StoryDay.__table__, rows).execute(session)
    after = {(r["story_key"], r["day"]): (r["tokens"], r["nano_usd"], r["events"], r["unpriced_events"])
             for r in rows}
    changed_days = len(set(before.items()) ^ set(after.items()))
    return {"stories_changed": changed_stories, "day_rows_changed": changed_days}


def _day(session: Session):
    if is_postgres(session):
        # A literal, not a bound parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
        return func.date(func.timezone(literal_column("'UTC'"), UsageEvent.occurred_at))
    return func.date(UsageEvent.occurred_at)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)

