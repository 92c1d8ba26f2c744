"""The retro's rollup (`retro_usage_days`): kept at ingest, rebuilt from the ledger, voids taken out on read.

The ledger's own rollups do not hold what the retro groups by (provider, outcome, the team and cost center
attributes) nor what it sums (input, output and cache tokens, unpriced events), so the retro keeps one of its
own, fed by the ledger's `usage_recorded` event inside the ingest transaction. `cells` is the one function
that says where an event is counted: ingest, rebuild and the void correction all go through it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.db import table_of
from bot.ledger.days import lock_ledger, team_day, team_zone
from bot.ledger.tables import UsageEvent, UsageVoid
from bot.reports.retro.tables import RetroDay
from bot.upsert import BulkInsert, batch_insert, batch_params, is_postgres

DIMS = ("story_key", "agent", "model", "provider", "team", "cost_center")
SUMS = ("events", "unpriced_events", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "nano_usd", "error_events", "error_unpriced_events", "error_tokens", "error_nano_usd")
# The ledger columns `cells` reads (the rows `usage_recorded` carries have them all).
LEDGER_COLUMNS = ("story_key", "occurred_at", "agent", "model", "model_family", "provider", "outcome", "attributes",
                  "priced", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                  "cost_nano_usd")
REBUILD_BATCH = 10_000

Cell = tuple[date, tuple[str, ...]]  # (team day, the DIMS values)


def cells(rows: Iterable[Mapping], zone: ZoneInfo, into: dict[Cell, list[int]] | None = None) -> dict[Cell, list[int]]:
    """The SUMS of ledger rows per (team day, DIMS), added to `into` when given."""
    found: dict[Cell, list[int]] = {} if into is None else into
    for row in rows:
        attributes = row["attributes"] or {}
        # As the reports name a model: its family, else the id as sent in lower case.
        family = row["model_family"] if row["model_family"] is not None else row["model"].lower()
        dims = (row["story_key"] or "", row["agent"] or "", family, row["provider"] or "",
                _text(attributes.get("team")), _text(attributes.get("cost_center")))
        sums = found.get((team_day(row["occurred_at"], zone), dims))
        if sums is None:
            sums = found[(team_day(row["occurred_at"], zone), dims)] = [0] * len(SUMS)
        unpriced = 0 if row["priced"] else 1
        sums[0] += 1
        sums[1] += unpriced
        sums[2] += row["input_tokens"]
        sums[3] += row["output_tokens"]
        sums[4] += row["cache_read_tokens"]
        sums[5] += row["cache_write_tokens"]
        sums[6] += row["cost_nano_usd"]
        if row["outcome"] == "error":
            sums[7] += 1
            sums[8] += unpriced
            sums[9] += row["input_tokens"] + row["output_tokens"]
            sums[10] += row["cost_nano_usd"]
    return found


def on_usage_recorded(session: Session, rows: list[dict]) -> None:
    """Add the events the ledger just accepted (same transaction, same team day as its own rollups)."""
    _add(session, cells(rows, team_zone(None, session)))


def rebuild(session: Session, zone: str | ZoneInfo | None = None) -> int:
    """Recompute the rollup from the whole ledger (voided events included, as ingest left them); returns rows."""
    lock_ledger(session)  # a concurrent ingest must be in these sums or wait for them
    day_zone = team_zone(zone, session)
    session.execute(delete(RetroDay))
    found: dict[Cell, list[int]] = {}
    stmt = select(*(getattr(UsageEvent, name) for name in LEDGER_COLUMNS))
    cells((row._mapping for row in session.execute(stmt.execution_options(yield_per=REBUILD_BATCH))), day_zone, found)
    return write(session, found)


def write(session: Session, found: dict[Cell, list[int]]) -> int:
    """Insert `cells` sums into the (emptied) rollup, in batches; returns the rows written."""
    ordered = sorted(found.items())
    for first in range(0, len(ordered), REBUILD_BATCH):
        _bulk(session, ordered[first:first + REBUILD_BATCH]).execute(session)
    return len(ordered)


def voided(session: Session, zone: ZoneInfo) -> dict[Cell, list[int]]:
    """What the voided events add to the rollup: readers subtract it (voids are rare corrections)."""
    # IN, not a join: SQLite would scan the whole ledger to probe the (small) voids table.
    stmt = (select(*(getattr(UsageEvent, name) for name in LEDGER_COLUMNS))
            .where(UsageEvent.event_id.in_(select(UsageVoid.event_id))))
    return cells((row._mapping for row in session.execute(stmt)), zone)


def _add(session: Session, found: dict[Cell, list[int]]) -> None:
    if not found:
        return
    rows = _rows(sorted(found.items()))  # sorted: one lock order for every writer
    postgres = is_postgres(session)
    session.execute(_upsert(postgres), batch_params(rows, postgres))


@cache
def _upsert(postgres: bool):
    """Built once per backend: it runs on every ingest (see bot.upsert for the JSON parameter on PostgreSQL)."""
    table = table_of(RetroDay)
    insert = batch_insert(table, [column.name for column in table.c], postgres)
    return insert.on_conflict_do_update(index_elements=["day", "cell"], set_={
        name: getattr(RetroDay, name) + getattr(insert.excluded, name) for name in SUMS})


def _rows(items: list[tuple[Cell, list[int]]]) -> list[dict]:
    return [{"day": day, "cell": _key(dims), **dict(zip(DIMS, dims, strict=True)),
             **dict(zip(SUMS, sums, strict=True))} for (day, dims), sums in items]


def _bulk(session: Session, items: list[tuple[Cell, list[int]]]) -> BulkInsert:
    return BulkInsert(session, table_of(RetroDay), _rows(items))


def _key(dims: tuple[str, ...]) -> str:
    return hashlib.blake2b(json.dumps(dims).encode(), digest_size=16).hexdigest()


def _text(value) -> str:
    """An attribute as text ('' when missing). The API only accepts strings; anything else is older data."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
