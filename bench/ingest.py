"""Ingest benchmark: raw executemany baseline vs batch ingest through the Flask app, and single-event latency.

    python bench/ingest.py                       # SQLite (temporary file)
    python bench/ingest.py --postgres URL        # also PostgreSQL (the database is emptied first!)
    python bench/ingest.py --events 200000 --single 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db
from bot.web.auth import create_token

MODELS = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4.1-mini"]
START = datetime(2026, 11, 2, tzinfo=UTC)


def make_event(i: int) -> dict:
    return {"event_id": f"bench-{i}", "story": f"PROJ-{i % 500 + 1}", "model": MODELS[i % 4],
            "agent": f"agent-{i % 7}", "run_id": f"run-{i // 50}",
            "occurred_at": (START + timedelta(seconds=i)).isoformat(),
            "input_tokens": 1000 + i % 5000, "output_tokens": 200 + i % 300, "cache_read_tokens": i % 800,
            "attributes": {"team": f"team-{i % 4}"}}


def raw_row(i: int) -> tuple:
    e = make_event(i)
    return (e["event_id"], "0" * 64, e["story"], e["occurred_at"], e["occurred_at"], e["agent"], e["model"],
            None, e["run_id"], e["input_tokens"], e["output_tokens"], e["cache_read_tokens"], 0, 0, 0, 12345,
            True, "genai-prices", "ok", None, json.dumps(e["attributes"]))


COLUMNS = ("event_id, content_hash, story_key, occurred_at, received_at, agent, model, provider, run_id, "
           "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, tool_calls, "
           "cost_nano_usd, priced, price_source, outcome, latency_ms, attributes")


def reset(app) -> None:
    engine = get_db(app).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)


def raw_baseline(app, total: int, batch: int) -> float:
    """Rows/s of plain DB-API executemany into the same indexed usage_events table (rows built beforehand)."""
    reset(app)
    engine = get_db(app).engine
    marks = ", ".join(["?" if engine.dialect.name == "sqlite" else "%s"] * len(COLUMNS.split(",")))
    batches = [[raw_row(i) for i in range(first, min(first + batch, total))] for first in range(0, total, batch)]
    connection = engine.raw_connection()
    started = time.perf_counter()
    try:
        for rows in batches:
            cursor = connection.cursor()
            if engine.dialect.name == "sqlite":
                cursor.execute("BEGIN")  # the driver runs in autocommit mode (see bot.db); one transaction a batch
            cursor.executemany(f"INSERT INTO usage_events ({COLUMNS}) VALUES ({marks})", rows)
            connection.commit()
    finally:
        connection.close()
    return total / (time.perf_counter() - started)


def through_app(app, total: int, batch: int) -> float:
    """Events/s through POST /api/v1/usage, `batch` events a request (bodies serialized beforehand)."""
    reset(app)
    client, headers = client_with_token(app)
    bodies = [json.dumps({"events": [make_event(i) for i in range(first, min(first + batch, total))]})
              for first in range(0, total, batch)]
    headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    for body in bodies:
        response = client.post("/api/v1/usage", data=body, headers=headers)
        assert response.status_code == 200, response.json
    return total / (time.perf_counter() - started)


def single_latency(app, count: int) -> tuple[float, float]:
    """p50 and p99 in ms of one-event requests (on a ledger already holding the batch run's events)."""
    client, headers = client_with_token(app, "single")
    timings = []
    for i in range(count):
        body = make_event(10_000_000 + i)
        started = time.perf_counter()
        response = client.post("/api/v1/usage", json=body, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49], quantiles[98]


def client_with_token(app, name: str = "bench"):
    with get_db(app).transaction() as session:
        secret = create_token(session, name)
    return app.test_client(), {"Authorization": f"Bearer {secret}"}


def run(label: str, url: str, total: int, batch: int, single: int) -> None:
    app = create_app({"database_url": url, "log_level": "WARNING"})
    raw = raw_baseline(app, total, batch)
    ingest = through_app(app, total, batch)
    p50, p99 = single_latency(app, single)
    with get_db(app).session_factory() as session:
        stored = session.execute(text("SELECT count(*) FROM usage_events")).scalar()
    print(f"[{label}] {total:,} events, {batch} per request ({stored:,} rows stored)")
    print(f"  (a) raw executemany baseline : {raw:>10,.0f} rows/s")
    print(f"  (b) batch ingest via the app : {ingest:>10,.0f} events/s   (b)/(a) = {ingest / raw:.1%}"
          f"   target >= 10%")
    print(f"  (c) single-event request     : p50 {p50:.2f} ms, p99 {p99:.2f} ms   target p99 <= 10 ms")
    get_db(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=2000, help="single-event requests for latency")
    parser.add_argument("--postgres", default=os.environ.get("BUDGETBOT_BENCH_POSTGRES_URL"),
                        help="PostgreSQL URL to benchmark too (its tables are dropped and recreated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.sqlite3", args.events, args.batch, args.single)
    if args.postgres:
        run("PostgreSQL", args.postgres, args.events, args.batch, args.single)


if __name__ == "__main__":
    main()
