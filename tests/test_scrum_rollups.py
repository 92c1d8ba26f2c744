"""The scrum rollups kept at ingest equal a rebuild from the ledger (rule 1: derived data is rebuildable)."""

from __future__ import annotations

import random

from scrum_support import event, ingest_events
from sqlalchemy import select

from bot.ledger.rollups import rebuild, streaks
from bot.ledger.tables import AgentDay, RunStat, UsageDay


def snapshot(db):
    with db.session_factory() as session:
        days = {(d.day, d.story_key, d.agent, d.model): (d.tokens, d.nano_usd, d.events, d.errors, d.tool_calls)
                for d in session.scalars(select(UsageDay))}
        runs = {r.run_id: (r.story_key, r.agent, r.model, r.first_event_at, r.last_event_at, r.nano_usd, r.tokens,
                           r.events, r.tool_calls, r.errors, r.errors_since_ok, r.max_error_streak)
                for r in session.scalars(select(RunStat))}
        agents = {(a.day, a.agent): (a.tokens, a.nano_usd, a.events) for a in session.scalars(select(AgentDay))}
    return days, runs, agents


def test_live_rollups_equal_a_rebuild_from_the_ledger(app, db):
    rng = random.Random(7)
    events = [event(f"e{n}", f"2026-03-0{rng.randrange(1, 6)}T{rng.randrange(24):02d}:{n % 60:02d}:00Z",
                    cost=f"0.0{rng.randrange(1, 10)}", story=rng.choice(["PROJ-1", "PROJ-2", None]),
                    agent=rng.choice(["codex", "claude-code", None]), model=rng.choice(["gpt-4o", "o3"]),
                    run_id=rng.choice(["r1", "r2", "r3", None]), outcome=rng.choice(["ok", "error", "error"]),
                    tool_calls=rng.randrange(5)) for n in range(300)]
    # Batches in time order, as agents report them (the streak follows arrival order across batches).
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    for start in range(0, 300, 37):
        ingest_events(app, db, events[start:start + 37])
    live = snapshot(db)

    with db.transaction() as session:
        counts = rebuild(session)

    assert snapshot(db) == live
    assert counts["runs"] == 3 and counts["usage_day_rows"] == len(live[0])
    assert counts["agent_day_rows"] == len(live[2]) == 5 * 3  # 5 days x (codex, claude-code, none)
    assert sum(v[2] for v in live[0].values()) == 300


def test_error_streaks():
    assert streaks(0, 0, [True, True, False, True]) == (1, 2)
    assert streaks(2, 2, [True, False]) == (0, 3)
    assert streaks(0, 5, []) == (0, 5)
