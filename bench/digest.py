"""Digest benchmark: the daily digest (Slack message, chart, one burn-down comment per story) for 500 stories
and 1M events, on SQLite, read from the daily rollups.

    python bench/digest.py                  # 500 stories, 1M events (as rollup rows), SQLite temp file
    python bench/digest.py --raw-events     # also store the 1M events themselves (slower to set up)
    python bench/digest.py --stories 2000 --events 5000000

The rollups are generated directly (what ingest would have written for those events: per story/day in
story_days, per day/story/agent/model in scrum_usage_days, per day/agent in scrum_agent_days, and the story
totals), because pushing 1M events through ingest only to build them takes minutes and measures ingest, not the
digest. `--raw-events` also inserts the 1M usage_events rows, to show the digest's time does not depend on them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db
from bot.ledger.tables import AgentDay, Sprint, Story, StoryDay, UsageDay, UsageEvent
from bot.reports.scrum.digest import build, run
from bot.reports.scrum.digest_data import load
from bot.reports.scrum.tables import Alert

AGENTS = ["claude-code", "codex", "devin"]
MODELS = ["claude-sonnet-4-5", "gpt-5", "o3", "gemini-2.5-pro"]
NOW = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin, day 8 of a 15-day sprint
SPRINT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HISTORY_DAYS = 30


def generate(app, stories: int, events: int, raw_events: bool, seed: int = 42) -> dict:
    rng = random.Random(seed)
    engine = get_db(app).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)
    days = [(NOW - timedelta(days=n)).date() for n in range(HISTORY_DAYS, -1, -1)]
    cells = [(d, s, a, m) for s in range(stories) for d in days for a in AGENTS for m in MODELS]
    # Spread the events over the cells unevenly (some stories burn far more), summing exactly to `events`.
    weights = [rng.random() ** 3 for _ in cells]
    scale = events / sum(weights)
    counts = [int(w * scale) for w in weights]
    for i in rng.sample(range(len(cells)), events - sum(counts)):
        counts[i] += 1
    usage_rows, story_days, agent_days = [], defaultdict(lambda: [0, 0, 0]), defaultdict(lambda: [0, 0, 0])
    totals = defaultdict(lambda: [0, 0, 0])
    for (day, s, agent, model), count in zip(cells, counts):
        if not count:
            continue
        key, tokens, nano = f"PROJ-{s + 1}", count * 1500, count * rng.randrange(2_000_000, 40_000_000)
        usage_rows.append({"day": day, "story_key": key, "agent": agent, "model": model, "tokens": tokens,
                           "nano_usd": nano, "events": count, "errors": count // 20, "tool_calls": count * 3})
        for bucket in (story_days[(key, day)], agent_days[(day, agent)], totals[key]):
            bucket[0] += tokens
            bucket[1] += nano
            bucket[2] += count
    with get_db(app).transaction() as session:
        session.execute(insert(Sprint), [{"name": "Sprint 42", "state": "active", "start_at": SPRINT_START,
                                          "end_at": SPRINT_START + timedelta(days=14)}])
        session.execute(insert(Story), [{
            "key": f"PROJ-{s + 1}", "project": "PROJ", "summary": f"Story number {s + 1}", "sprint": "Sprint 42",
            "assignee": f"dev-{s % 12}", "budget_nano_usd": int(totals[f"PROJ-{s + 1}"][1] * rng.uniform(0.8, 2.5)),
            "budget_tokens": None, "spent_tokens": totals[f"PROJ-{s + 1}"][0],
            "spent_nano_usd": totals[f"PROJ-{s + 1}"][1], "events": totals[f"PROJ-{s + 1}"][2],
            "unpriced_events": 0, "deleted": False, "updated_at": NOW} for s in range(stories)])
        session.execute(insert(StoryDay), [{"story_key": k, "day": d, "tokens": t, "nano_usd": n, "events": e,
                                            "unpriced_events": 0} for (k, d), (t, n, e) in story_days.items()])
        session.execute(insert(UsageDay), usage_rows)
        session.execute(insert(AgentDay), [{"day": d, "agent": a, "tokens": t, "nano_usd": n, "events": e}
                                           for (d, a), (t, n, e) in agent_days.items()])
        session.execute(insert(Alert), [{"rule": "run_cost", "subject": f"run:r{n}", "day": days[-2],
                                         "story_key": f"PROJ-{n + 1}", "message": f"Run r{n} cost $1.50",
                                         "details": {}, "created_at": NOW - timedelta(hours=n)} for n in range(8)])
    if raw_events:
        insert_raw_events(app, cells, counts)
    return {"usage_day_rows": len(usage_rows), "story_day_rows": len(story_days), "events": sum(counts)}


def insert_raw_events(app, cells, counts) -> None:
    """The ledger rows themselves (plain executemany), so the digest runs beside a 1M-row usage_events table."""
    rows, n = [], 0
    with get_db(app).transaction() as session:
        for (day, s, agent, model), count in zip(cells, counts):
            at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
            for _ in range(count):
                n += 1
                rows.append({"event_id": f"e{n}", "content_hash": "0" * 64, "story_key": f"PROJ-{s + 1}",
                             "occurred_at": at, "received_at": at, "agent": agent, "model": model,
                             "input_tokens": 1000, "output_tokens": 500, "cost_nano_usd": 1, "priced": True,
                             "price_source": "client", "outcome": "ok", "attributes": {}})
                if len(rows) == 50_000:
                    session.execute(insert(UsageEvent), rows)
                    rows.clear()
        if rows:
            session.execute(insert(UsageEvent), rows)


def measure(app, repeats: int) -> list[dict]:
    settings = app.config["SETTINGS"]
    runs = []
    for _ in range(repeats):
        with get_db(app).transaction() as session:
            started = time.perf_counter()
            data = load(session, settings, NOW)
            loaded = time.perf_counter()
            digest = build(data)
            built = time.perf_counter()
            session.rollback()
        with get_db(app).transaction() as session:
            whole_started = time.perf_counter()
            result = run(session, settings, NOW)  # load + build + enqueue 1 Slack row and N Jira rows
            whole = time.perf_counter() - whole_started
        runs.append({"load": loaded - started, "build": built - loaded, "total": whole,
                     "comments": len(result.comments), "blocks": len(digest.blocks),
                     "chart_bytes": len(digest.chart_png or b"")})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--raw-events", action="store_true", help="also insert the usage_events rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"database_url": f"sqlite:///{folder}/bench.sqlite3", "log_level": "WARNING",
                          "timezone": "Europe/Berlin", "public_url": "https://budgetbot.example"})
        started = time.perf_counter()
        made = generate(app, args.stories, args.events, args.raw_events)
        setup = time.perf_counter() - started
        with get_db(app).session_factory() as session:
            stored = session.execute(text("SELECT count(*) FROM usage_events")).scalar()
        print(f"[SQLite] {args.stories} stories, {made['events']:,} events as {made['usage_day_rows']:,} "
              f"story/agent/model/day rollup rows and {made['story_day_rows']:,} story/day rows "
              f"({stored:,} raw usage_events rows stored; set-up {setup:.1f} s)")
        runs = measure(app, args.repeats)
        get_db(app).dispose()
    best = min(runs, key=lambda r: r["total"])
    median = statistics.median(r["total"] for r in runs)
    print(f"  read rollups      : {best['load'] * 1000:7.0f} ms")
    print(f"  build (incl chart): {best['build'] * 1000:7.0f} ms   ({best['blocks']} Slack blocks, "
          f"{best['chart_bytes']:,} byte PNG, {best['comments']} Jira comments)")
    print(f"  digest end to end : {best['total'] * 1000:7.0f} ms best, {median * 1000:.0f} ms median of "
          f"{len(runs)} (read + build + enqueue {best['comments'] + 1} outbox rows)   target < 2000 ms")


if __name__ == "__main__":
    main()
