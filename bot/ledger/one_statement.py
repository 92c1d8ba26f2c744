"""PostgreSQL: a batch's ledger rows, story totals, story-days and every rollup written in ONE statement.

A single-event request used to make one round trip per table (insert, stories, story_days, three rollups);
on a network each is a wait. PostgreSQL runs data-modifying CTEs in one statement, so the ledger insert and
the upserts travel together:

    WITH ins   AS (INSERT INTO usage_events … ON CONFLICT DO NOTHING RETURNING event_id),
         whole AS (SELECT count(*) = :expected AS ok FROM ins),
         st    AS (INSERT INTO stories … SELECT … WHERE (SELECT ok FROM whole) ON CONFLICT DO UPDATE … RETURNING *),
         …
    SELECT array_agg(ins), whole.ok, json_agg(st), …

The totals are computed in Python before the statement, assuming every row is new (what nearly every batch
is). The `whole` guard makes that exact: if any row was a duplicate, none of the upserts adds anything, and
the caller adds the totals of the rows that were inserted, statement by statement (`ingest`'s general path).
The statement is built once; its text does not depend on the batch size, so psycopg prepares it.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Date, bindparam, func, select
from sqlalchemy.orm import Session

from bot.db import UTCDateTime, table_of
from bot.ledger import rollups, totals
from bot.ledger.events import RollupTotals, StoryChange
from bot.ledger.tables import RunStat, Story, StoryView, UsageEvent
from bot.upsert import json_insert, json_rows

# The ledger's columns a batch provides (all but the surrogate id).
EVENT_COLUMNS = [column.name for column in table_of(UsageEvent).c if column.name != "id"]
# (name of the CTE and of its JSON parameter, module, upsert name), in the order the general path writes them:
# one lock order for every writer.
_PARTS = (("st", totals, "stories"), ("sd", totals, "days"), ("ud", rollups, "days"), ("ad", rollups, "agents"),
          ("rn", rollups, "runs"))


@dataclass(frozen=True)
class Written:
    inserted: set[str]  # the event_ids this statement inserted
    changes: list[StoryChange] | None  # None: some rows were duplicates, the totals are still to be added
    totals: RollupTotals | None


def write(session: Session, rows: list[dict], warn_threshold: Decimal, zone: ZoneInfo) -> Written:
    """Insert `rows` and, if all of them were new, add them to every total; one statement (plus one read of the
    batch's runs, when it names any: their error streaks continue from the stored row)."""
    stories = totals.story_deltas(rows, zone)
    sums = rollups.plan(rows, zone)
    runs = rollups.run_values(sums.runs, rollups.stored_runs(session, sums.runs))
    params: dict[str, Any] = {"expected": len(rows), "ev": json_rows(rows)}
    for part, module, name in _PARTS:
        params[part] = json_rows(_part_rows(name, module, stories, sums, runs))
    inserted, whole, story_rows, agent_rows, run_rows = session.execute(_statement(), params).one()
    if not whole:
        return Written(set(inserted or ()), None, None)
    updated = cast(list[StoryView], [_story_row(row) for row in story_rows or ()])
    agent_days = [(date.fromisoformat(row["day"]), row["agent"], row["nano_usd"]) for row in agent_rows or ()]
    settled = rollups.settle_runs(session, runs, [_run_row(row) for row in run_rows or ()])
    return Written(set(inserted), totals.changes_of(updated, stories, warn_threshold),
                   RollupTotals(runs=settled, agent_days=agent_days))


def _part_rows(name: str, module, stories: totals.StoryDeltas, sums: rollups.RollupPlan,
               runs: rollups.RunValues) -> list[dict]:
    if module is totals:
        return stories.story_params() if name == "stories" else stories.day_params()
    return {"days": sums.days, "agents": sums.agents, "runs": runs.rows}[name]


@cache
def _statement():
    events = table_of(UsageEvent)
    ins = (json_insert(events, EVENT_COLUMNS, "ev").on_conflict_do_nothing(index_elements=["event_id"])
           .returning(events.c.event_id).cte("ins"))
    whole = select((func.count() == bindparam("expected")).label("ok")).select_from(ins).cte("whole")
    guard = select(whole.c.ok).scalar_subquery()
    ctes = {}
    for part, module, name in _PARTS:
        table, columns, build = module.UPSERTS[name]
        ctes[part] = build(json_insert(table, columns, part, where=guard)).cte(part)
    return select(
        select(func.array_agg(ins.c.event_id)).scalar_subquery(),
        guard,
        *(select(func.json_agg(ctes[name].table_valued())).scalar_subquery() for name in ("st", "ad", "rn")),
    ).add_cte(ctes["sd"], ctes["ud"])


def _decoder(table, row_type=None):
    """Rows of `table` from their JSON (json_agg): dates and times parsed back into what a Core row holds."""
    parsers = {column.name: (datetime.fromisoformat if isinstance(column.type, UTCDateTime)
                             else date.fromisoformat if isinstance(column.type, Date) else None)
               for column in table.c}
    row_type = row_type or namedtuple(f"{table.name}_row", [column.name for column in table.c])

    def decode(obj: dict):
        return row_type(**{name: (parse(obj[name]) if parse is not None and obj[name] is not None else obj[name])
                           for name, parse in parsers.items()})
    return decode


_story_row = _decoder(table_of(Story))
_run_row = _decoder(table_of(RunStat), rollups.RunRow)
