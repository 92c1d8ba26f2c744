"""Client benchmark: what BudgetClient.record() costs the agent's own thread, against a bare queue.put.

    python bench/client.py                          # 15 rounds of 2,000 calls each
    python bench/client.py --rounds 30 --calls 5000

budgetbot runs in a child process (the real app on a temporary SQLite file, behind werkzeug), as it
would in production, so its work does not compete with the agent for this process's GIL; the client's
own sender thread does, as it would in an agent. Each round times, interleaved, (a) the baseline:
building the same event dict and `queue.Queue.put` of it, and (b) `client.record(usage, story=...)`;
between rounds the client is flushed (untimed) so its queue never fills. Prints per-call microseconds
(min and median over rounds) and the ratio b/a per round. Target: record() <= 50 us per call.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python" / "src"))

from budgetbot_client import BudgetClient

USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1024}}


def serve(directory: str, pipe) -> None:
    """Child process: the app on SQLite, one token; sends (port, token) and serves until killed."""
    import logging

    from werkzeug.serving import make_server

    from bot.all_tables import metadata
    from bot.app import create_app
    from bot.db import get_db, make_engine
    from bot.web.auth import create_token

    url = f"sqlite:///{directory}/bench.sqlite3"
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    app = create_app({"database_url": url, "log_level": "WARNING"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with get_db(app).transaction() as session:
        token = create_token(session, "bench")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    pipe.send((server.server_port, token))
    server.serve_forever()


def baseline(calls: int) -> float:
    """Seconds for `calls` x (the same dict as record() queues, with a uuid4 and a time) + queue.put."""
    bare: queue.Queue = queue.Queue()
    started = time.perf_counter()
    for _ in range(calls):
        bare.put({"_raw": USAGE, "_at": time.time(), "event_id": str(uuid.uuid4()), "story": "PROJ-1",
                  "model": None, "agent": "coder", "run_id": "run-1", "outcome": "ok", "latency_ms": None,
                  "tool_calls": 0, "attributes": None, "reservation_id": None, "provider": None,
                  "cost_usd": None})
    return time.perf_counter() - started


def client_calls(client: BudgetClient, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        client.record(USAGE, story="PROJ-1", model="gpt-4o", run_id="run-1")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        mine, theirs = multiprocessing.Pipe()
        server = multiprocessing.Process(target=serve, args=(directory, theirs), daemon=True)
        server.start()
        port, token = mine.recv()
        client = BudgetClient(f"http://127.0.0.1:{port}", token, agent="coder",
                              spool_path=Path(directory) / "spool.jsonl")
        try:
            client_calls(client, 200)  # warm-up: first connection, imports, pricing on the server
            assert client.flush(60), "budgetbot did not take the warm-up events"
            base_us, record_us, ratios = [], [], []
            for _ in range(args.rounds):
                a = baseline(args.calls) / args.calls * 1e6
                b = client_calls(client, args.calls) / args.calls * 1e6
                base_us.append(a)
                record_us.append(b)
                ratios.append(b / a)
                assert client.flush(120), "budgetbot did not take a round's events"
        finally:
            client.close()
            server.kill()

    print(f"record() on the caller's thread, {args.rounds} rounds x {args.calls:,} calls (interleaved):")
    for label, values, unit in (("(a) baseline dict + queue.put", base_us, "us"),
                                ("(b) BudgetClient.record()    ", record_us, "us"),
                                ("ratio b/a per round          ", ratios, "x ")):
        print(f"  {label}: min {min(values):6.2f} {unit}  median {statistics.median(values):6.2f} {unit}")
    print("  target: (b) <= 50 us per call")


if __name__ == "__main__":
    main()
