"""Rollups: sums per team day/story/agent/model family, per day/agent and per run, kept at ingest.

`apply(session, rows)` is called by `bot.ledger.ingest` with the rows it just inserted (the dicts
`ingest._row` builds), inside its transaction: the rollups can then never disagree with the ledger.
Days are the team's (BUDGETBOT_TIMEZONE); models are grouped by their canonical family.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bot.db import table_of
from bot.ledger.days import counted, lock_ledger, team_day, team_zone
from bot.ledger.events import RollupTotals
from bot.ledger.tables import AgentDay, RunStat, UsageDay, UsageEvent
from bot.upsert import BulkInsert, batch_insert, batch_params, is_postgres

_SUMS = ("tokens", "nano_usd", "events", "errors", "tool_calls")
_RUN_SUMS = ("nano_usd", "tokens", "events", "tool_calls", "errors")


@dataclass
class RollupPlan:
    """What a batch adds to the rollups: per (day, story, agent, family), per (day, agent), and per run."""

    days: list[dict]
    agents: list[dict]
    runs: dict[str, dict]  # run_id -> the batch's part of the run (see _add_to_run)


def plan(rows: list[dict], zone: ZoneInfo, sign: int = 1) -> RollupPlan:
    """Sum ledger rows for the rollups (`sign=-1` for rows a void takes out)."""
    days: dict[tuple, list[int]] = {}
    agents: dict[tuple, list[int]] = {}
    runs: dict[str, dict] = {}
    # Time order (ties by event_id, as the rebuild reads the ledger): error streaks follow it.
    for row in sorted(rows, key=itemgetter("occurred_at", "event_id")):
        occurred = row["occurred_at"].astimezone(UTC)
        error = row["outcome"] == "error"
        tokens, nano, tools = row["input_tokens"] + row["output_tokens"], row["cost_nano_usd"], row["tool_calls"]
        day, agent = team_day(occurred, zone), row["agent"] or ""
        sums = days.setdefault((day, row["story_key"] or "", agent, _family(row)), [0, 0, 0, 0, 0])
        sums[0] += sign * tokens
        sums[1] += sign * nano
        sums[2] += sign
        sums[3] += sign * error
        sums[4] += sign * tools
        per_agent = agents.setdefault((day, agent), [0, 0, 0])
        per_agent[0] += sign * tokens
        per_agent[1] += sign * nano
        per_agent[2] += sign
        if row["run_id"]:
            _add_to_run(runs, row, occurred, tokens, error)
    # Sorted: one lock order for every writer.
    return RollupPlan(
        days=[{"day": day, "story_key": story, "agent": agent, "model": model, **dict(zip(_SUMS, sums, strict=True))}
              for (day, story, agent, model), sums in sorted(days.items())],
        agents=[{"day": day, "agent": agent, "tokens": t, "nano_usd": n, "events": e}
                for (day, agent), (t, n, e) in sorted(agents.items())],
        runs=runs)


def apply(session: Session, rows: list[dict], zone: ZoneInfo | None = None,
          sign: int = 1) -> RollupTotals | None:
    """Add freshly inserted ledger rows to the rollups. Returns the run and (day, agent) totals as the upserts
    left them, so the ingest-time anomaly rules need no query of their own. `sign=-1` takes voided rows out
    again (their runs are then recomputed from the ledger, and nothing is returned to judge)."""
    if not rows:
        return None
    sums = plan(rows, team_zone(zone, session), sign)
    _execute(session, statement("days", is_postgres(session)), sums.days)
    agent_totals = [tuple(r) for r in _execute(session, statement("agents", is_postgres(session)), sums.agents)]
    if sign < 0:
        rebuild_runs(session, sorted(sums.runs))
        return None
    runs = run_values(sums.runs, stored_runs(session, sums.runs))
    return RollupTotals(runs=settle_runs(session, runs, _upsert_runs(session, runs)), agent_days=agent_totals)


def _family(row: dict) -> str:
    return row.get("model_family") or row["model"].strip().lower()


def _add_to_run(runs: dict, row: dict, occurred: datetime, tokens: int, error: bool) -> None:
    run = runs.get(row["run_id"])
    if run is None:
        run = runs[row["run_id"]] = {"first": occurred, "nano_usd": 0, "tokens": 0, "events": 0, "tool_calls": 0,
                                     "errors": 0, "outcomes": [], "story": None, "agent": None}
    # A run keeps the latest story and agent it named (an event without them does not erase them).
    run["last"], run["model"] = occurred, row["model"]
    run["story"] = row["story_key"] or run["story"]
    run["agent"] = row["agent"] or run["agent"]
    run["nano_usd"] += row["cost_nano_usd"]
    run["tokens"] += tokens
    run["events"] += 1
    run["tool_calls"] += row["tool_calls"]
    run["errors"] += error
    run["outcomes"].append(error)


def streaks(previous_since_ok: int, previous_max: int, outcomes: list[bool]) -> tuple[int, int]:
    """(errors since the last ok, longest error streak) after `outcomes` (True = error), in time order."""
    since_ok, longest = previous_since_ok, previous_max
    for error in outcomes:
        since_ok = since_ok + 1 if error else 0
        longest = max(longest, since_ok)
    return since_ok, longest


def stored_runs(session: Session, runs: dict[str, dict]) -> dict[str, tuple]:
    """The stored (errors_since_ok, max_error_streak, last_event_at, events) of the batch's runs. Read without a
    lock: `settle_runs` checks after the upsert (which holds the row lock) that nobody wrote in between."""
    if not runs:
        return {}
    postgres = is_postgres(session)
    ids = sorted(runs)
    return {r.run_id: (r.errors_since_ok, r.max_error_streak, _aware(r.last_event_at), r.events)
            for r in session.execute(_stored_runs(postgres), {"ids": ids})}


@cache
def _stored_runs(postgres: bool):
    # Built once. PostgreSQL takes the ids as one array (= ANY): an expanding IN is re-rendered on every call.
    c = table_of(RunStat).c
    ids = (c.run_id == func.any(bindparam("ids", type_=postgresql.ARRAY(c.run_id.type))) if postgres
           else c.run_id.in_(bindparam("ids", expanding=True)))
    return select(c.run_id, c.errors_since_ok, c.max_error_streak, c.last_event_at, c.events).where(ids)


@dataclass(frozen=True)
class RunValues:
    rows: list[dict]  # the upsert's rows, in run_id order
    expected_events: dict[str, int]  # each run's event count after the upsert, if nobody else wrote meanwhile
    recount: set[str]  # runs whose streaks must be recounted from the ledger after the upsert


def run_values(runs: dict[str, dict], stored: dict[str, tuple]) -> RunValues:
    """The upsert rows of the batch's runs: streaks continued from the stored row when the batch comes after it
    in time; a batch that arrived out of time order is recounted from the ledger once it is in (settle_runs)."""
    rows, expected, recount = [], {}, set()
    for run_id in sorted(runs):
        run = runs[run_id]
        known = stored.get(run_id)
        if known is not None and run["first"] <= known[2]:
            recount.add(run_id)
        since_ok, longest = streaks(known[0] if known else 0, known[1] if known else 0, run["outcomes"])
        expected[run_id] = (known[3] if known else 0) + run["events"]
        rows.append({"run_id": run_id, "story_key": run["story"], "agent": run["agent"], "model": run["model"],
                     "first_event_at": run["first"], "last_event_at": run["last"],
                     **{name: run[name] for name in _RUN_SUMS},
                     "errors_since_ok": since_ok, "max_error_streak": longest})
    return RunValues(rows, expected, recount)


class RunRow(NamedTuple):
    """A `scrum_runs` row as the ledger hands it on (a named tuple, so a recount can replace its streaks)."""

    run_id: str
    story_key: str | None
    agent: str | None
    model: str | None
    first_event_at: datetime
    last_event_at: datetime
    nano_usd: int
    tokens: int
    events: int
    tool_calls: int
    errors: int
    errors_since_ok: int
    max_error_streak: int


assert list(RunRow._fields) == [column.name for column in table_of(RunStat).c], "RunRow follows scrum_runs"


def settle_runs(session: Session, values: RunValues, upserted: list) -> list:
    """Optimistic concurrency for the streaks: a run whose count is not what this batch expected (another batch
    wrote it between our read and our upsert) or that arrived out of time order gets its streaks recounted from
    the ledger. The upsert holds the run's row lock, so every other batch of it has committed by now or waits
    for us: the recount sees them all. Returns the runs' rows as they now stand."""
    settled = []
    for row in map(_run_row, upserted):
        if row.run_id in values.recount or row.events != values.expected_events[row.run_id]:
            since_ok, longest = ledger_streaks(session, row.run_id)
            session.execute(update(RunStat).where(RunStat.run_id == row.run_id)
                            .values(errors_since_ok=since_ok, max_error_streak=longest))
            row = row._replace(errors_since_ok=since_ok, max_error_streak=longest)
        settled.append(row)
    return settled


def _run_row(row) -> RunRow:
    return row if isinstance(row, RunRow) else RunRow(**row._mapping)


def ledger_streaks(session: Session, run_id: str) -> tuple[int, int]:
    """The run's streaks from its counted events in time order: what live totals and the rebuild agree on."""
    outcomes = session.scalars(select(UsageEvent.outcome).where(UsageEvent.run_id == run_id, counted())
                               .order_by(UsageEvent.occurred_at, UsageEvent.event_id))
    return streaks(0, 0, [outcome == "error" for outcome in outcomes])


def _upsert_runs(session: Session, values: RunValues) -> list:
    if not values.rows:
        return []
    return list(_execute(session, statement("runs", is_postgres(session)), values.rows))


@cache
def statement(name: str, postgres: bool):
    """The upsert of rollup `name` (days, agents, runs), built once per backend: constructing it cost more than
    running it for a one-event batch. On PostgreSQL the rows travel as one JSON parameter
    (`bot.upsert.json_insert`), so a batch is one short statement whatever its size."""
    table, columns, build = UPSERTS[name]
    return build(batch_insert(table, columns, postgres))


def _execute(session: Session, stmt, rows: list[dict]):
    return session.execute(stmt, batch_params(rows, is_postgres(session)))


def _days_upsert(insert):
    return insert.on_conflict_do_update(index_elements=["day", "story_key", "agent", "model"], set_={
        n: getattr(UsageDay, n) + getattr(insert.excluded, n) for n in _SUMS})


def _agents_upsert(insert):
    table = AgentDay.__table__.c
    return insert.on_conflict_do_update(index_elements=["day", "agent"], set_={
        n: getattr(AgentDay, n) + getattr(insert.excluded, n) for n in ("tokens", "nano_usd", "events")}
    ).returning(table.day, table.agent, table.nano_usd)


def _runs_upsert(insert):
    excluded = insert.excluded
    newer = excluded.last_event_at >= RunStat.last_event_at
    return insert.on_conflict_do_update(index_elements=["run_id"], set_={
        **{name: getattr(RunStat, name) + getattr(excluded, name) for name in _RUN_SUMS},
        # Computed under the run's lock from the stored row or the ledger: exact, so set (an older `ok` that
        # arrives late can split a streak and shorten the longest one).
        "errors_since_ok": excluded.errors_since_ok,
        "max_error_streak": excluded.max_error_streak,
        "story_key": func.coalesce(excluded.story_key, RunStat.story_key),
        "agent": func.coalesce(excluded.agent, RunStat.agent),
        "model": case((newer, excluded.model), else_=RunStat.model),
        "first_event_at": case((excluded.first_event_at < RunStat.first_event_at, excluded.first_event_at),
                               else_=RunStat.first_event_at),
        "last_event_at": case((newer, excluded.last_event_at), else_=RunStat.last_event_at),
    }).returning(*RunStat.__table__.c)


def _upsert(table, build) -> tuple:
    return table_of(table), [column.name for column in table_of(table).c], build


# name -> (table, the columns a batch provides, the upsert built on an INSERT of those columns)
UPSERTS = {"days": _upsert(UsageDay, _days_upsert), "agents": _upsert(AgentDay, _agents_upsert),
           "runs": _upsert(RunStat, _runs_upsert)}


def rebuild(session: Session, zone: str | ZoneInfo | None = None) -> dict[str, int]:
    """Recompute every rollup from the ledger (they should not change; `budgetbot rebuild` proves it)."""
    lock_ledger(session)  # before any read: a concurrent insert must be in these sums or wait for them
    day_zone = team_zone(zone, session)
    for table in (UsageDay, AgentDay):
        session.execute(delete(table))
    days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    agents: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    family = func.coalesce(UsageEvent.model_family, func.lower(UsageEvent.model))
    # Bucketed in Python by the same team_day as ingest, so live and rebuilt days cannot disagree.
    for occurred, story, agent, model, row_tokens, nano, outcome, calls in session.execute(
            select(UsageEvent.occurred_at, UsageEvent.story_key, UsageEvent.agent, family,
                   UsageEvent.input_tokens + UsageEvent.output_tokens, UsageEvent.cost_nano_usd, UsageEvent.outcome,
                   UsageEvent.tool_calls).where(counted()).execution_options(yield_per=10_000)):
        day, agent = team_day(occurred, day_zone), agent or ""
        sums = days[(day, story or "", agent, model)]
        for index, value in enumerate((row_tokens, nano, 1, outcome == "error", calls)):
            sums[index] += value
        per_agent = agents[(day, agent)]
        for index, value in enumerate((row_tokens, nano, 1)):
            per_agent[index] += value
    day_rows = [{"day": d, "story_key": s, "agent": a, "model": m, **dict(zip(_SUMS, sums, strict=True))}
                for (d, s, a, m), sums in sorted(days.items())]
    agent_rows = [{"day": d, "agent": a, "tokens": t, "nano_usd": n, "events": e}
                  for (d, a), (t, n, e) in sorted(agents.items())]
    for table, found in ((UsageDay, day_rows), (AgentDay, agent_rows)):
        if found:
            BulkInsert(session, table_of(table), found).execute(session)
    runs = rebuild_runs(session)
    return {"usage_day_rows": len(day_rows), "agent_day_rows": len(agent_rows), "runs": runs}


def rebuild_runs(session: Session, run_ids: list[str] | None = None) -> int:
    """Recompute run totals and streaks from the ledger (all runs, or `run_ids` after a void)."""
    if run_ids is not None and not run_ids:
        return 0
    where = [UsageEvent.run_id.is_not(None), counted()]
    if run_ids is not None:
        where.append(UsageEvent.run_id.in_(run_ids))
    session.execute(delete(RunStat).where(RunStat.run_id.in_(run_ids)) if run_ids is not None else delete(RunStat))
    runs: dict[str, dict] = {}
    ordered = (select(UsageEvent.run_id, UsageEvent.occurred_at, UsageEvent.story_key, UsageEvent.agent,
                      UsageEvent.model, UsageEvent.cost_nano_usd, UsageEvent.input_tokens + UsageEvent.output_tokens,
                      UsageEvent.tool_calls, UsageEvent.outcome)
               .where(*where).order_by(UsageEvent.run_id, UsageEvent.occurred_at, UsageEvent.event_id))
    for run_id, occurred, story_key, agent_name, model, cost, row_tokens, calls, outcome in session.execute(
            ordered.execution_options(yield_per=10_000)):
        row = {"run_id": run_id, "story_key": story_key, "agent": agent_name, "model": model,
               "cost_nano_usd": cost, "tool_calls": calls}
        _add_to_run(runs, row, _aware(occurred), row_tokens, outcome == "error")
    _upsert_runs(session, run_values(runs, {}))  # the rows were deleted above: every run starts from nothing
    return len(runs)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
