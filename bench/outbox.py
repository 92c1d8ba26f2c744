"""Outbox benchmark: rows/s through a no-op sender, and what an enqueue adds to a usage-event insert.

    python bench/outbox.py                        # SQLite (temporary file)
    python bench/outbox.py --postgres URL         # also PostgreSQL (its tables are dropped and recreated!)
    python bench/outbox.py --rows 20000 --inserts 2000 --rounds 3

(a) drain: N due rows (half with a coalesce key) sent by one worker (`Worker.drain`) through a sender that
    does nothing, so the figure is the outbox's own cost: claim, lease, record. Target >= 2,000 rows/s.
(b) enqueue cost: one usage event per transaction through `ledger.ingest` (insert + story and daily
    rollups), alternately without and with one `enqueue(..., coalesce_key="jira-spend:KEY")` in the same
    transaction (50 stories, so the enqueue mostly coalesces into the story's pending row, as in a burst);
    medians. Target: the enqueue adds <= 10%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.all_tables import metadata
from bot.app import create_app
from bot.app_pricer import get_pricer
from bot.components import registry
from bot.db import get_db
from bot.ledger.ingest import ingest
from bot.ledger.usage_shapes import parse_usage_body
from bot.outbox import SenderSet, enqueue
from bot.outbox.worker import Worker

BENCH = SenderSet("bench")
BENCH.sender("bench.noop")(lambda payload, ctx: None)


def reset(app) -> None:
    engine = get_db(app).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)


def drain_rate(app, rows: int) -> tuple[float, int]:
    """Rows/s sent by one worker draining `rows` due rows."""
    reset(app)
    db = get_db(app)
    with db.transaction() as session:
        for n in range(rows):
            enqueue(session, "bench.noop", {"n": n, "text": "PROJ-1 spent 80% of its budget"},
                    coalesce_key=f"bench:{n}" if n % 2 else None)
    worker = Worker(db, app.config["SETTINGS"], name="bench")
    started = time.perf_counter()
    sent = worker.drain()
    elapsed = time.perf_counter() - started
    assert sent == rows, (sent, rows)
    return rows / elapsed, sent


def insert_cost(app, inserts: int, rounds: int) -> tuple[float, float, float]:
    """Median µs of a one-event ingest transaction, median µs an enqueue in the same transaction adds
    (transactions alternate without/with), and median µs of the enqueue call itself."""
    reset(app)
    db, pricer, warn = get_db(app), get_pricer(), app.config["SETTINGS"].warn_threshold
    timings: dict[bool, list[float]] = {False: [], True: []}
    enqueue_calls: list[float] = []
    for n in range(inserts * rounds + 200):
        with_enqueue, key = n % 2 == 1, f"PROJ-{n % 50 + 1}"
        event = parse_usage_body({"event_id": f"e-{n}", "story": key, "model": "gpt-4o", "agent": "bench",
                                  "input_tokens": 1000 + n, "output_tokens": 200}, 1)[0]
        started = time.perf_counter()
        with db.transaction() as session:
            ingest(session, event, pricer, warn)
            if with_enqueue:
                before = time.perf_counter()
                enqueue(session, "bench.noop", {"key": key, "marker": "spend"}, coalesce_key=f"jira-spend:{key}")
                enqueue_calls.append(time.perf_counter() - before)
        if n >= 200:  # the first 200 warm caches (pricer, statements, a pending row for every story)
            timings[with_enqueue].append(time.perf_counter() - started)
    # Paired: each transaction with an enqueue against the one just before it, so load drifting over the
    # run (other processes, fsync latency) cancels out instead of landing on one side.
    added = [with_ - without for without, with_ in zip(timings[False], timings[True])]
    return (statistics.median(timings[False]) * 1e6, statistics.median(added) * 1e6,
            statistics.median(enqueue_calls[100:]) * 1e6)


def run(label: str, url: str, rows: int, inserts: int, rounds: int) -> None:
    app = create_app({"database_url": url, "log_level": "WARNING"})
    registry(app).add_integration("bench", lambda settings: True, BENCH)
    with app.app_context():
        rate, sent = drain_rate(app, rows)
        base, added, call = insert_cost(app, inserts, rounds)
    print(f"[{label}]")
    print(f"  (a) drain, no-op sender      : {rate:>10,.0f} rows/s ({sent:,} rows, one worker)   target >= 2,000")
    print(f"  (b) usage-event insert       : {base:>10,.0f} µs per transaction (1 event, story + day rollups)")
    print(f"      + enqueue, same txn      : {added:>+10,.0f} µs = {added / base:.1%} of the insert (paired median)"
          "   target <= 10%")
    print(f"      the enqueue call alone   : {call:>10,.0f} µs = {call / base:.1%} of the insert")
    get_db(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows to drain")
    parser.add_argument("--inserts", type=int, default=2_000, help="insert transactions per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (inserts x rounds transactions in all)")
    parser.add_argument("--postgres", default=os.environ.get("BUDGETBOT_BENCH_POSTGRES_URL"),
                        help="PostgreSQL URL to benchmark too (its tables are dropped and recreated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.sqlite3", args.rows, args.inserts, args.rounds)
    if args.postgres:
        run("PostgreSQL", args.postgres, args.rows, args.inserts, args.rounds)


if __name__ == "__main__":
    main()
