"""Scrum rollups: sums per UTC day/story/agent/model and per run, kept at ingest and rebuildable from the ledger.

`apply(session, rows)` is called by `bot.ledger.ingest` with the rows it just inserted (the dicts
`ledger._row` builds), inside its transaction: the rollups can then never disagree with the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

from sqlalchemy import case, delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import UsageEvent
from bot.scrum.models import RunStat, UsageDay

_SUMS = ("tokens", "nano_usd", "events", "errors", "tool_calls")


def apply(session: Session, rows: list[dict], settings=None) -> None:
    """Add freshly inserted ledger rows to the rollups, then judge the ingest-time anomaly rules (run cost,
    runaway runs, an agent's share of the daily budget) on just what they touched: no ledger scan."""
    if not rows:
        return
    days: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(_SUMS, 0))
    runs: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: (r["occurred_at"], r["event_id"])):
        occurred = row["occurred_at"].astimezone(UTC)
        error = row["outcome"] == "error"
        tokens = row["input_tokens"] + row["output_tokens"]
        bucket = days[(occurred.date(), row["story_key"] or "", row["agent"] or "", row["model"])]
        for name, value in zip(_SUMS, (tokens, row["cost_nano_usd"], 1, int(error), row["tool_calls"])):
            bucket[name] += value
        if row.get("run_id"):
            _add_to_run(runs, row, occurred, tokens, error)
    _upsert_days(session, days)
    _upsert_runs(session, runs)

    from bot.scrum.alerts import check_ingest  # late: alerts imports the outbox, which must not load at import

    check_ingest(session, sorted(runs), sorted({(day, agent) for day, _, agent, _ in days if agent}), settings)


def _add_to_run(runs: dict, row: dict, occurred: datetime, tokens: int, error: bool) -> None:
    run = runs.setdefault(row["run_id"], {"first": occurred, "nano": 0, "tokens": 0, "events": 0,
                                          "tool_calls": 0, "errors": 0, "outcomes": []})
    # A run keeps the latest story and agent it named (an event without them does not erase them).
    run.update(last=occurred, model=row["model"], story=row["story_key"] or run.get("story"),
               agent=row["agent"] or run.get("agent"))
    run["nano"] += row["cost_nano_usd"]
    run["tokens"] += tokens
    run["events"] += 1
    run["tool_calls"] += row["tool_calls"]
    run["errors"] += int(error)
    run["outcomes"].append(error)


def streaks(previous_since_ok: int, previous_max: int, outcomes: list[bool]) -> tuple[int, int]:
    """(errors since the last ok, longest error streak) after `outcomes` (True = error), in time order."""
    since_ok, longest = previous_since_ok, previous_max
    for error in outcomes:
        since_ok = since_ok + 1 if error else 0
        longest = max(longest, since_ok)
    return since_ok, longest


def _insert(session: Session, table):
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def _upsert_days(session: Session, days: dict[tuple, dict]) -> None:
    values = [{"day": day, "story_key": story, "agent": agent, "model": model, **sums}
              for (day, story, agent, model), sums in sorted(days.items())]  # one lock order for all writers
    stmt = _insert(session, UsageDay)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "story_key", "agent", "model"],
        set_={name: getattr(UsageDay, name) + getattr(stmt.excluded, name) for name in _SUMS})
    session.execute(stmt, values)


def _upsert_runs(session: Session, runs: dict[str, dict]) -> None:
    if not runs:
        return
    # Lock the runs' rows (PostgreSQL) so the streaks, computed here in event order, build on committed values.
    known = {r.run_id: (r.errors_since_ok, r.max_error_streak) for r in session.execute(
        select(RunStat.run_id, RunStat.errors_since_ok, RunStat.max_error_streak)
        .where(RunStat.run_id.in_(sorted(runs))).with_for_update())}
    values = []
    for run_id in sorted(runs):
        run = runs[run_id]
        since_ok, longest = streaks(*known.get(run_id, (0, 0)), run["outcomes"])
        values.append({"run_id": run_id, "story_key": run["story"], "agent": run["agent"], "model": run["model"],
                       "first_event_at": run["first"], "last_event_at": run["last"], "nano_usd": run["nano"],
                       "tokens": run["tokens"], "events": run["events"], "tool_calls": run["tool_calls"],
                       "errors": run["errors"], "errors_since_ok": since_ok, "max_error_streak": longest})
    stmt = _insert(session, RunStat)
    excluded = stmt.excluded
    newer = excluded.last_event_at >= RunStat.last_event_at
    stmt = stmt.on_conflict_do_update(index_elements=["run_id"], set_={
        **{name: getattr(RunStat, name) + getattr(excluded, name)
           for name in ("nano_usd", "tokens", "events", "tool_calls", "errors")},
        "errors_since_ok": excluded.errors_since_ok,
        "max_error_streak": excluded.max_error_streak,
        "story_key": func.coalesce(excluded.story_key, RunStat.story_key),
        "agent": func.coalesce(excluded.agent, RunStat.agent),
        "model": case((newer, excluded.model), else_=RunStat.model),
        "first_event_at": case((excluded.first_event_at < RunStat.first_event_at, excluded.first_event_at),
                               else_=RunStat.first_event_at),
        "last_event_at": case((newer, excluded.last_event_at), else_=RunStat.last_event_at),
    })
    session.execute(stmt, values)


def rebuild(session: Session) -> dict[str, int]:
    """Recompute both rollups from the ledger (they should not change; `budgetbot rebuild` proves it)."""
    session.execute(delete(UsageDay))
    session.execute(delete(RunStat))
    day = _day(session)
    story = func.coalesce(UsageEvent.story_key, "")
    agent = func.coalesce(UsageEvent.agent, "")
    errors = func.sum(case((UsageEvent.outcome == "error", 1), else_=0))
    tokens = func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens)
    day_rows = [{"day": _as_date(d), "story_key": s, "agent": a, "model": m, "tokens": int(t), "nano_usd": int(n),
                 "events": int(e), "errors": int(x), "tool_calls": int(c)}
                for d, s, a, m, t, n, e, x, c in session.execute(
                    select(day, story, agent, UsageEvent.model, tokens, func.sum(UsageEvent.cost_nano_usd),
                           func.count(), errors, func.sum(UsageEvent.tool_calls))
                    .group_by(day, story, agent, UsageEvent.model))]
    if day_rows:
        session.execute(_insert(session, UsageDay), day_rows)
    runs: dict[str, dict] = {}
    ordered = (select(UsageEvent.run_id, UsageEvent.occurred_at, UsageEvent.story_key, UsageEvent.agent,
                      UsageEvent.model, UsageEvent.cost_nano_usd, UsageEvent.input_tokens + UsageEvent.output_tokens,
                      UsageEvent.tool_calls, UsageEvent.outcome)
               .where(UsageEvent.run_id.is_not(None))
               .order_by(UsageEvent.run_id, UsageEvent.occurred_at, UsageEvent.event_id))
    for run_id, occurred, story_key, agent_name, model, nano, row_tokens, tools, outcome in session.execute(
            ordered.execution_options(yield_per=10_000)):
        row = {"run_id": run_id, "story_key": story_key, "agent": agent_name, "model": model,
               "cost_nano_usd": nano, "tool_calls": tools}
        _add_to_run(runs, row, _aware(occurred), row_tokens, outcome == "error")
    _upsert_runs(session, runs)
    return {"usage_day_rows": len(day_rows), "runs": len(runs)}


def _day(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'UTC'"), UsageEvent.occurred_at))
    return func.date(UsageEvent.occurred_at)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
