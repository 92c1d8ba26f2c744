"""Rollups: sums per UTC day/story/agent/model, per day/agent and per run, kept at ingest, rebuildable.

`apply(session, rows)` is called by `bot.ledger.ingest` with the rows it just inserted (the dicts
`ingest._row` builds), inside its transaction: the rollups can then never disagree with the ledger.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from operator import itemgetter

from sqlalchemy import bindparam, case, delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.ledger.events import RollupTotals
from bot.ledger.tables import AgentDay, RunStat, UsageDay, UsageEvent
from bot.upsert import BulkInsert, is_postgres

_SUMS = ("tokens", "nano_usd", "events", "errors", "tool_calls")
_RUN_SUMS = ("nano_usd", "tokens", "events", "tool_calls", "errors")


def apply(session: Session, rows: list[dict]) -> RollupTotals | None:
    """Add freshly inserted ledger rows to the rollups. Returns the run and (day, agent) totals as the upserts
    left them, so the ingest-time anomaly rules need no query of their own."""
    if not rows:
        return None
    days: dict[tuple, list[int]] = {}
    agents: dict[tuple, list[int]] = {}
    runs: dict[str, dict] = {}
    for row in sorted(rows, key=itemgetter("occurred_at")):  # time order: error streaks follow it
        occurred = row["occurred_at"].astimezone(UTC)
        error = row["outcome"] == "error"
        tokens, nano, tools = row["input_tokens"] + row["output_tokens"], row["cost_nano_usd"], row["tool_calls"]
        day, agent = occurred.date(), row["agent"] or ""
        sums = days.setdefault((day, row["story_key"] or "", agent, row["model"]), [0, 0, 0, 0, 0])
        sums[0] += tokens
        sums[1] += nano
        sums[2] += 1
        sums[3] += error
        sums[4] += tools
        per_agent = agents.setdefault((day, agent), [0, 0, 0])
        per_agent[0] += tokens
        per_agent[1] += nano
        per_agent[2] += 1
        if row["run_id"]:
            _add_to_run(runs, row, occurred, tokens, error)
    _upsert_days(session, days)
    agent_totals = _upsert_agent_days(session, agents)
    return RollupTotals(runs=_upsert_runs(session, runs), agent_days=agent_totals)


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
    values = [{"day": day, "story_key": story, "agent": agent, "model": model, **dict(zip(_SUMS, sums))}
              for (day, story, agent, model), sums in sorted(days.items())]  # one lock order for all writers
    _execute(session, _statement(session, "days"), values)


def _upsert_agent_days(session: Session, agents: dict[tuple, list[int]]) -> list[tuple[date, str, int]]:
    """Add to the (day, agent) totals; returns the new totals, so the share rule needs no query of its own."""
    values = [{"day": day, "agent": agent, "tokens": t, "nano_usd": n, "events": e}
              for (day, agent), (t, n, e) in sorted(agents.items())]
    return [tuple(r) for r in _execute(session, _statement(session, "agents"), values)]


def _upsert_runs(session: Session, runs: dict[str, dict]) -> list:
    """Add to each run's totals; returns the runs' rows as they now stand."""
    if not runs:
        return []
    # A run whose batch has an error continues its stored streak: read (and on PostgreSQL lock) just those rows.
    # A batch of only `ok` outcomes ends any streak; the upsert keeps the longest one without a read.
    erring = sorted(run_id for run_id, run in runs.items() if any(run["outcomes"]))
    known = {r.run_id: (r.errors_since_ok, r.max_error_streak) for r in session.execute(
        select(RunStat.run_id, RunStat.errors_since_ok, RunStat.max_error_streak)
        .where(RunStat.run_id.in_(erring)).with_for_update())} if erring else {}
    values = []
    for run_id in sorted(runs):
        run = runs[run_id]
        since_ok, longest = streaks(*known.get(run_id, (0, 0)), run["outcomes"])
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
    table = {"days": UsageDay, "agents": AgentDay, "runs": RunStat}[name].__table__
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
    greatest = func.greatest if isinstance(insert, postgresql.Insert) else func.max  # SQLite: scalar max()
    return insert.on_conflict_do_update(index_elements=["run_id"], set_={
        **{name: getattr(RunStat, name) + getattr(excluded, name) for name in _RUN_SUMS},
        "errors_since_ok": excluded.errors_since_ok,
        "max_error_streak": greatest(RunStat.max_error_streak, excluded.max_error_streak),
        "story_key": func.coalesce(excluded.story_key, RunStat.story_key),
        "agent": func.coalesce(excluded.agent, RunStat.agent),
        "model": case((newer, excluded.model), else_=RunStat.model),
        "first_event_at": case((excluded.first_event_at < RunStat.first_event_at, excluded.first_event_at),
                               else_=RunStat.first_event_at),
        "last_event_at": case((newer, excluded.last_event_at), else_=RunStat.last_event_at),
    }).returning(*RunStat.__table__.c)


_BUILDERS = {"days": _days_upsert, "agents": _agents_upsert, "runs": _runs_upsert}


def rebuild(session: Session) -> dict[str, int]:
    """Recompute every rollup from the ledger (they should not change; `budgetbot rebuild` proves it)."""
    for table in (UsageDay, AgentDay, RunStat):
        session.execute(delete(table))
    day, agent = _day(session), func.coalesce(UsageEvent.agent, "")
    errors = func.sum(case((UsageEvent.outcome == "error", 1), else_=0))
    tokens = func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens)
    nano, tools = func.sum(UsageEvent.cost_nano_usd), func.sum(UsageEvent.tool_calls)
    story = func.coalesce(UsageEvent.story_key, "")
    day_rows = [{"day": _as_date(d), "story_key": s, "agent": a, "model": m, "tokens": int(t), "nano_usd": int(n),
                 "events": int(e), "errors": int(x), "tool_calls": int(c)}
                for d, s, a, m, t, n, e, x, c in session.execute(
                    select(day, story, agent, UsageEvent.model, tokens, nano, func.count(), errors, tools)
                    .group_by(day, story, agent, UsageEvent.model))]
    agent_rows = [{"day": _as_date(d), "agent": a, "tokens": int(t), "nano_usd": int(n), "events": int(e)}
                  for d, a, t, n, e in session.execute(select(day, agent, tokens, nano, func.count())
                                                       .group_by(day, agent))]
    for table, found in ((UsageDay, day_rows), (AgentDay, agent_rows)):
        if found:
            BulkInsert(session, table.__table__, found).execute(session)
    runs: dict[str, dict] = {}
    ordered = (select(UsageEvent.run_id, UsageEvent.occurred_at, UsageEvent.story_key, UsageEvent.agent,
                      UsageEvent.model, UsageEvent.cost_nano_usd, UsageEvent.input_tokens + UsageEvent.output_tokens,
                      UsageEvent.tool_calls, UsageEvent.outcome)
               .where(UsageEvent.run_id.is_not(None))
               .order_by(UsageEvent.run_id, UsageEvent.occurred_at, UsageEvent.event_id))
    for run_id, occurred, story_key, agent_name, model, cost, row_tokens, calls, outcome in session.execute(
            ordered.execution_options(yield_per=10_000)):
        row = {"run_id": run_id, "story_key": story_key, "agent": agent_name, "model": model,
               "cost_nano_usd": cost, "tool_calls": calls}
        _add_to_run(runs, row, _aware(occurred), row_tokens, outcome == "error")
    _upsert_runs(session, runs)
    return {"usage_day_rows": len(day_rows), "agent_day_rows": len(agent_rows), "runs": len(runs)}


def _day(session: Session):
    if is_postgres(session):
        return func.date(func.timezone(literal_column("'UTC'"), UsageEvent.occurred_at))
    return func.date(UsageEvent.occurred_at)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
