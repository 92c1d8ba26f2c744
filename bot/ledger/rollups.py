"""Rollups: sums per team day/story/agent/model family, per day/agent and per run, kept at ingest.

`apply(session, rows)` is called by `bot.ledger.ingest` with the rows it just inserted (the dicts
`ingest._row` builds), inside its transaction: the rollups can then never disagree with the ledger.
Days are the team's (BUDGETBOT_TIMEZONE); models are grouped by their canonical family.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime
from operator import itemgetter
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db import table_of
from bot.ledger.days import counted, lock_ledger, team_day, team_zone
from bot.ledger.events import RollupTotals
from bot.ledger.tables import AgentDay, RunStat, UsageDay, UsageEvent
from bot.upsert import BulkInsert, is_postgres

_SUMS = ("tokens", "nano_usd", "events", "errors", "tool_calls")
_RUN_SUMS = ("nano_usd", "tokens", "events", "tool_calls", "errors")


def apply(session: Session, rows: list[dict], zone: ZoneInfo | None = None,
          sign: int = 1) -> RollupTotals | None:
    """Add freshly inserted ledger rows to the rollups. Returns the run and (day, agent) totals as the upserts
    left them, so the ingest-time anomaly rules need no query of their own. `sign=-1` takes voided rows out
    again (their runs are then recomputed from the ledger, and nothing is returned to judge)."""
    if not rows:
        return None
    day_zone = team_zone(zone, session)
    days: dict[tuple, list[int]] = {}
    agents: dict[tuple, list[int]] = {}
    runs: dict[str, dict] = {}
    # Time order (ties by event_id, as the rebuild reads the ledger): error streaks follow it.
    for row in sorted(rows, key=itemgetter("occurred_at", "event_id")):
        occurred = row["occurred_at"].astimezone(UTC)
        error = row["outcome"] == "error"
        tokens, nano, tools = row["input_tokens"] + row["output_tokens"], row["cost_nano_usd"], row["tool_calls"]
        day, agent = team_day(occurred, day_zone), row["agent"] or ""
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
    _upsert_days(session, days)
    agent_totals = _upsert_agent_days(session, agents)
    if sign < 0:
        rebuild_runs(session, sorted(runs))
        return None
    return RollupTotals(runs=_upsert_runs(session, runs), agent_days=agent_totals)


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


def _upsert_days(session: Session, days: dict[tuple, list[int]]) -> None:
    values = [{"day": day, "story_key": story, "agent": agent, "model": model, **dict(zip(_SUMS, sums, strict=True))}
              for (day, story, agent, model), sums in sorted(days.items())]  # one lock order for all writers
    _execute(session, _statement(session, "days"), values)


def _upsert_agent_days(session: Session, agents: dict[tuple, list[int]]) -> list[tuple[date, str, int]]:
    """Add to the (day, agent) totals; returns the new totals, so the share rule needs no query of its own."""
    values = [{"day": day, "agent": agent, "tokens": t, "nano_usd": n, "events": e}
              for (day, agent), (t, n, e) in sorted(agents.items())]
    return [tuple(r) for r in _execute(session, _statement(session, "agents"), values)]


def _lock_runs(session: Session, run_ids: list[str]) -> None:
    """Writers of one run take turns (PostgreSQL): the streak read below must include every committed batch.
    A row lock cannot do it for a run that has no row yet (two first batches would both start from 0), so a
    transaction-level advisory lock per run, taken in run_id order (no deadlock), released at commit."""
    if not is_postgres(session) or not run_ids:
        return
    keys = [int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8).digest(), "big", signed=True)
            for run_id in run_ids]
    calls = ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(len(keys)))  # evaluated left to right
    session.execute(text(f"SELECT {calls}"), {f"k{i}": key for i, key in enumerate(keys)})


def ledger_streaks(session: Session, run_id: str) -> tuple[int, int]:
    """The run's streaks from its counted events in time order: what live totals and the rebuild agree on."""
    outcomes = session.scalars(select(UsageEvent.outcome).where(UsageEvent.run_id == run_id, counted())
                               .order_by(UsageEvent.occurred_at, UsageEvent.event_id))
    return streaks(0, 0, [outcome == "error" for outcome in outcomes])


def _upsert_runs(session: Session, runs: dict[str, dict]) -> list:
    """Add to each run's totals; returns the runs' rows as they now stand."""
    if not runs:
        return []
    _lock_runs(session, sorted(runs))
    known = {r.run_id: (r.errors_since_ok, r.max_error_streak, _aware(r.last_event_at)) for r in session.execute(
        select(RunStat.run_id, RunStat.errors_since_ok, RunStat.max_error_streak, RunStat.last_event_at)
        .where(RunStat.run_id.in_(sorted(runs))))}
    values = []
    for run_id in sorted(runs):
        run = runs[run_id]
        stored = known.get(run_id)
        if stored is None or run["first"] > stored[2]:
            since_ok, longest = streaks(stored[0] if stored else 0, stored[1] if stored else 0, run["outcomes"])
        else:  # arrived out of time order: the streak is recounted from the ledger (this batch included)
            since_ok, longest = ledger_streaks(session, run_id)
        values.append({"run_id": run_id, "story_key": run["story"], "agent": run["agent"], "model": run["model"],
                       "first_event_at": run["first"], "last_event_at": run["last"],
                       **{name: run[name] for name in _RUN_SUMS},
                       "errors_since_ok": since_ok, "max_error_streak": longest})
    return list(_execute(session, _statement(session, "runs"), values))


# Built once per backend: constructing these upserts cost more than running them for a one-event batch.
_STATEMENTS: dict[tuple[str, bool], object] = {}


def _statement(session: Session, name: str):
    key = (name, is_postgres(session))
    if key not in _STATEMENTS:
        _STATEMENTS[key] = _BUILDERS[name](_insert_all_columns(*key))
    return _STATEMENTS[key]


def _insert_all_columns(name: str, postgres: bool):
    """INSERT of whole rows: an executemany on SQLite; on PostgreSQL one array per column, unnested server-side
    (as in `bot.upsert`), so a batch is one short statement."""
    table = table_of({"days": UsageDay, "agents": AgentDay, "runs": RunStat}[name])
    if not postgres:
        return sqlite.insert(table)
    arrays = [func.unnest(bindparam(c.name, type_=postgresql.ARRAY(c.type))) for c in table.c]
    return postgresql.insert(table).from_select([c.name for c in table.c], select(*arrays))


def _execute(session: Session, stmt, rows: list[dict]):
    if is_postgres(session):
        return session.execute(stmt, {name: [row[name] for row in rows] for name in rows[0]})
    return session.execute(stmt, rows)


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


_BUILDERS = {"days": _days_upsert, "agents": _agents_upsert, "runs": _runs_upsert}


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
        _lock_runs(session, run_ids)
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
    _upsert_runs(session, runs)
    return len(runs)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
