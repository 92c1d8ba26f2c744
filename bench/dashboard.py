"""Dashboard render times: the sprint page with 500 stories over 1M events (< 200 ms, goal 50 ms) and the story page
of a story with 100k events (< 100 ms), server-side, against a same-run baseline (GET /healthz), interleaved."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db
from bot.ledger.tables import Sprint
from bot.web.users import create_user

STORIES, EVENTS, BIG = 500, 1_000_000, 100_000
DAYS = 14
ROUNDS = 25


def seed(db) -> None:
    """1M events made by SQLite itself (a recursive CTE: minutes faster than Python), then the rollups summed
    from them with GROUP BY, as ingest would have kept them."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    epoch = start.strftime("%Y-%m-%d %H:%M:%S")
    other = STORIES - 1
    with db.engine.begin() as conn:
        # Event n: PROJ-1 gets the first BIG, the rest spread over PROJ-2..PROJ-500; seconds spread over the days.
        conn.execute(text(f"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {EVENTS - 1})
            INSERT INTO usage_events (event_id, content_hash, story_key, occurred_at, received_at, agent, model,
                provider, run_id, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, tool_calls, cost_nano_usd, priced, price_source, outcome, latency_ms, attributes)
            SELECT 'e' || i, 'x',
                   CASE WHEN i < {BIG} THEN 'PROJ-1' ELSE 'PROJ-' || (2 + (i % {other})) END,
                   datetime('{epoch}', '+' || ((i * 7919) % {DAYS * 86400}) || ' seconds'),
                   datetime('{epoch}'), 'agent-' || (i % 5), 'gpt-4o', NULL,
                   CASE WHEN i < {BIG} THEN 'PROJ-1' ELSE 'PROJ-' || (2 + (i % {other})) END || '-run-' || (i % 20),
                   500 + (i * 37) % 19500, 0, 0, 0, 0, 0, 100000 + (i * 7727) % 99900000, 1, 'genai-prices',
                   'ok', NULL, '{{"team": "payments"}}'
            FROM n"""))
        conn.execute(text("""
            INSERT INTO scrum_usage_days (day, story_key, agent, model, tokens, nano_usd, events, errors, tool_calls)
            SELECT date(occurred_at), story_key, agent, model, sum(input_tokens + output_tokens), sum(cost_nano_usd),
                   count(*), 0, 0 FROM usage_events GROUP BY 1, 2, 3, 4"""))
        conn.execute(text("""
            INSERT INTO story_days (story_key, day, tokens, nano_usd, events, unpriced_events)
            SELECT story_key, day, sum(tokens), sum(nano_usd), sum(events), 0 FROM scrum_usage_days GROUP BY 1, 2"""))
        conn.execute(text(f"""
            INSERT INTO stories (key, project, summary, assignee, sprint, deleted, budget_nano_usd, spent_tokens,
                spent_nano_usd, events, unpriced_events, first_event_at, last_event_at, updated_at)
            SELECT story_key, 'PROJ', 'Story ' || story_key, 'dev', 'Bench', 0,
                   (sum(nano_usd) * (50 + abs(random() % 100))) / 100, sum(tokens), sum(nano_usd), sum(events), 0,
                   '{epoch}', '{epoch}', '{epoch}'
            FROM story_days GROUP BY story_key"""))
        conn.execute(text("""
            INSERT INTO scrum_runs (run_id, story_key, agent, model, first_event_at, last_event_at, nano_usd, tokens,
                events, tool_calls, errors, errors_since_ok, max_error_streak)
            SELECT run_id, story_key, min(agent), 'gpt-4o', min(occurred_at), max(occurred_at), sum(cost_nano_usd),
                   sum(input_tokens), count(*), 0, 0, 0, 0 FROM usage_events WHERE story_key = 'PROJ-1'
            GROUP BY run_id, story_key"""))
        conn.execute(insert(Sprint), [{"name": "Bench", "state": "active", "start_at": start,
                                       "end_at": start + timedelta(days=DAYS - 1)}])


def timed(client, path: str) -> float:
    began = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - began) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


def main() -> None:
    global EVENTS, BIG
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=EVENTS, help="events in the ledger (default 1M)")
    parser.add_argument("--story-events", type=int, default=BIG, help="events of the one big story (default 100k)")
    args = parser.parse_args()
    EVENTS, BIG = args.events, args.story_events
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3"
        app = create_app({"database_url": url, "secret_key": "bench-secret-key"})
        db = get_db(app)
        metadata.create_all(db.engine)
        began = time.perf_counter()
        seed(db)
        print(f"seeded {EVENTS:,} events ({BIG:,} on PROJ-1), {STORIES} stories in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
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
        base = times["baseline /healthz"]
        base_low, base_mid = min(base), statistics.median(base)
        limits = {"sprint page (500 stories)": (200, 50), "story page (100k events)": (100, None)}
        for name, values in times.items():
            low, mid = min(values), statistics.median(values)
            limit, goal = limits.get(name, (None, None))
            verdict = "" if limit is None else f"  {'OK' if mid < limit else 'SLOW'} (limit {limit} ms" + (
                f", goal {goal} ms: {'met' if mid < goal else 'not met'})" if goal else ")")
            # min to min and median to median: the ratios hold on a loaded machine, the milliseconds do not.
            print(f"{name:<28} min {low:7.1f} ms ({low / base_low:5.1f}x)  median {mid:7.1f} ms "
                  f"({mid / base_mid:5.1f}x baseline){verdict}")


if __name__ == "__main__":
    main()
