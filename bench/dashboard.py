"""Dashboard render times: the sprint page with 500 stories over 1M events (< 200 ms, goal 50 ms) and the story page
of a story with 100k events (< 100 ms), server-side, against a same-run baseline (GET /healthz), interleaved."""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import create_app
from bot.all_tables import metadata
from bot.db import get_db
from bot.ledger.tables import RunStat, Sprint, Story, StoryDay, UsageDay, UsageEvent
from bot.web.users import create_user

STORIES, EVENTS, BIG = 500, 1_000_000, 100_000
DAYS = 14
ROUNDS = 15


def seed(db) -> None:
    """Events written straight to the tables, with rollups summed from the same numbers (as ingest keeps them)."""
    rng = random.Random(7)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    keys = [f"PROJ-{n}" for n in range(1, STORIES + 1)]
    per_story = {k: (EVENTS - BIG) // (STORIES - 1) for k in keys[1:]}
    per_story[keys[0]] = BIG
    days: dict[tuple, list[int]] = {}
    with db.engine.begin() as conn:
        batch, n = [], 0
        for key, count in per_story.items():
            for i in range(count):
                at = start + timedelta(seconds=rng.randrange(DAYS * 86400))
                toks, nano = rng.randrange(500, 20_000), rng.randrange(10**5, 10**8)
                batch.append({"event_id": f"e{n}", "content_hash": "x", "story_key": key, "occurred_at": at,
                              "received_at": at, "agent": f"agent-{i % 5}", "model": "gpt-4o",
                              "run_id": f"{key}-run-{i % 20}", "input_tokens": toks, "output_tokens": 0,
                              "cost_nano_usd": nano, "priced": True, "price_source": "genai-prices",
                              "outcome": "ok", "attributes": {"team": "payments"}, "cache_read_tokens": 0,
                              "cache_write_tokens": 0, "reasoning_tokens": 0, "tool_calls": 0})
                cell = days.setdefault((key, at.date(), f"agent-{i % 5}"), [0, 0, 0])
                cell[0] += toks
                cell[1] += nano
                cell[2] += 1
                n += 1
                if len(batch) == 20_000:
                    conn.execute(insert(UsageEvent), batch)
                    batch = []
        if batch:
            conn.execute(insert(UsageEvent), batch)
        story_days: dict[tuple, list[int]] = {}
        for (key, day, _agent), (t, c, e) in days.items():
            cell = story_days.setdefault((key, day), [0, 0, 0])
            cell[0] += t
            cell[1] += c
            cell[2] += e
        conn.execute(insert(UsageDay), [{"day": d, "story_key": k, "agent": a, "model": "gpt-4o", "tokens": t,
                                         "nano_usd": c, "events": e, "errors": 0, "tool_calls": 0}
                                        for (k, d, a), (t, c, e) in days.items()])
        conn.execute(insert(StoryDay), [{"story_key": k, "day": d, "tokens": t, "nano_usd": c, "events": e,
                                         "unpriced_events": 0} for (k, d), (t, c, e) in story_days.items()])
        stories = []
        for key in keys:
            cells = [v for (k, _), v in story_days.items() if k == key]
            stories.append({"key": key, "project": "PROJ", "summary": f"Story {key}", "assignee": "dev",
                            "sprint": "Bench", "deleted": False, "budget_tokens": None,
                            "budget_nano_usd": rng.randrange(10**9, 10**12), "spent_tokens": sum(c[0] for c in cells),
                            "spent_nano_usd": sum(c[1] for c in cells), "events": sum(c[2] for c in cells),
                            "unpriced_events": 0, "first_event_at": start, "last_event_at": start,
                            "updated_at": start})
        conn.execute(insert(Story), stories)
        conn.execute(insert(RunStat), [{"run_id": f"{keys[0]}-run-{r}", "story_key": keys[0], "agent": "agent-0",
                                        "model": "gpt-4o", "first_event_at": start, "last_event_at": start,
                                        "nano_usd": 10**8 * r, "tokens": 1000, "events": 100, "tool_calls": 0,
                                        "errors": 0, "errors_since_ok": 0, "max_error_streak": 0}
                                       for r in range(20)])
        conn.execute(insert(Sprint), [{"name": "Bench", "state": "active", "start_at": start,
                                       "end_at": start + timedelta(days=DAYS - 1)}])


def timed(client, path: str) -> float:
    began = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3"
        app = create_app({"database_url": url, "secret_key": "bench-secret-key"})
        db = get_db(app)
        metadata.create_all(db.engine)
        began = time.perf_counter()
        seed(db)
        print(f"seeded {EVENTS:,} events, {STORIES} stories in {time.perf_counter() - began:.0f} s")
        with db.transaction() as session:
            create_user(session, "bench", "bench password", "viewer")
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"name": "bench", "password": "bench password", "csrf_token": token})
        pages = {"baseline /healthz": "/healthz", "sprint page (500 stories)": "/",
                 "story page (100k events)": "/stories/PROJ-1"}
        times: dict[str, list[float]] = {name: [] for name in pages}
        for path in pages.values():
            timed(client, path)  # warm: templates compiled, caches filled
        for _ in range(ROUNDS):
            for name, path in pages.items():  # interleaved, so machine noise hits all alike
                times[name].append(timed(client, path))
        base = statistics.median(times["baseline /healthz"])
        limits = {"sprint page (500 stories)": 200, "story page (100k events)": 100}
        for name, values in times.items():
            low, mid = min(values), statistics.median(values)
            limit = limits.get(name)
            verdict = "" if limit is None else f"  {'OK' if mid < limit else 'SLOW'} (limit {limit} ms)"
            print(f"{name:<28} min {low:7.1f} ms  median {mid:7.1f} ms  {mid / base:6.1f}x baseline{verdict}")


if __name__ == "__main__":
    main()
