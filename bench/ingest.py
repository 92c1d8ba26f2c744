"""Ingest benchmark: budgetbot against a baseline measured in the same run, interleaved and repeated.

    python bench/ingest.py                      # SQLite, and PostgreSQL in a database of its own on 127.0.0.1
    python bench/ingest.py --postgres URL       # that server instead (a database is created there and dropped)
    python bench/ingest.py --no-postgres --rounds 5 --events 200000

Three figures per database, each printed per round and as min / median of the rounds:

  batch   events/s of POST /api/v1/usage, 1,000 events a request, vs the same rows loaded raw into the same indexed
          table (SQLite: DB-API executemany; PostgreSQL: COPY), rows built beforehand
  single  p50 / p99 of one-event requests in-process (Flask's test client) vs a Flask app doing one INSERT + COMMIT
          (bench/baseline_app.py) on the same database
  http    requests/s and p99 of one-event requests over loopback (waitress, as the Procfile serves it; wrk, 8
          connections) vs that baseline app on the same server; skipped when wrk is not installed

The machine may be busy: the subject and its baseline alternate within each round, and the ratios are the figures
to read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from baseline_app import create_app as create_baseline  # noqa: E402
from pg_database import own_database  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot.all_tables import metadata  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.db import get_db  # noqa: E402
from bot.web.auth import create_token  # noqa: E402

MODELS = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4.1-mini"]
COLUMNS = ("event_id, content_hash, story_key, occurred_at, received_at, agent, model, provider, run_id, "
           "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, tool_calls, "
           "cost_nano_usd, priced, price_source, outcome, latency_ms, attributes")
START = datetime.now(UTC) - timedelta(days=20)


def make_event(i: int, prefix: str = "b") -> dict:
    return {"event_id": f"{prefix}-{i}", "story": f"PROJ-{i % 500 + 1}", "model": MODELS[i % 4],
            "agent": f"agent-{i % 7}", "run_id": f"{prefix}-run-{i // 50}",
            "occurred_at": (START + timedelta(seconds=i)).isoformat(),
            "input_tokens": 1000 + i % 5000, "output_tokens": 200 + i % 300, "cache_read_tokens": i % 800,
            "attributes": {"team": f"team-{i % 4}"}}


def raw_row(event: dict) -> tuple:
    occurred = datetime.fromisoformat(event["occurred_at"])
    return (event["event_id"], "0" * 64, event["story"], occurred, occurred, event["agent"], event["model"], None,
            event["run_id"], event["input_tokens"], event["output_tokens"], event["cache_read_tokens"], 0, 0, 0,
            12345, True, "genai-prices", "ok", None, json.dumps(event["attributes"]))


def reset(engine) -> None:
    metadata.drop_all(engine)
    metadata.create_all(engine)


def summary(values: list[float]) -> str:
    return f"min {min(values):.1%} / median {statistics.median(values):.1%}"


# --- batch ----------------------------------------------------------------------------------------------------

def raw_load(engine, total: int, batch: int) -> tuple[float, float]:
    """Rows/s loaded with no framework at all: executemany (SQLite) or COPY (PostgreSQL), a transaction a batch;
    by the wall clock and by this process's CPU time (which other load on the machine skews less)."""
    reset(engine)
    batches = [[raw_row(make_event(i)) for i in range(first, min(first + batch, total))]
               for first in range(0, total, batch)]
    connection = engine.raw_connection()
    sqlite = engine.dialect.name == "sqlite"
    started, cpu = time.perf_counter(), time.process_time()
    try:
        for rows in batches:
            cursor = connection.cursor()
            if sqlite:
                cursor.execute("BEGIN")  # the driver runs in autocommit mode (see bot.db)
                cursor.executemany(f"INSERT INTO usage_events ({COLUMNS}) VALUES ({', '.join('?' * 21)})", rows)
            else:
                with cursor.copy(f"COPY usage_events ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            connection.commit()
    finally:
        connection.close()
    return total / (time.perf_counter() - started), total / (time.process_time() - cpu)


def app_batches(app, total: int, batch: int) -> tuple[float, float]:
    """Events/s through POST /api/v1/usage, `batch` events a request (bodies serialized beforehand), by the wall
    clock and by CPU time."""
    reset(get_db(app).engine)
    client, headers = client_with_token(app)
    bodies = [json.dumps({"events": [make_event(i) for i in range(first, min(first + batch, total))]})
              for first in range(0, total, batch)]
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        response = client.post("/api/v1/usage", data=body, headers=headers)
        assert response.status_code == 200, response.json
    return total / (time.perf_counter() - started), total / (time.process_time() - cpu)


def client_with_token(app, name: str = "bench"):
    with get_db(app).transaction() as session:
        secret = create_token(session, f"{name}-{uuid.uuid4().hex[:6]}")
    return app.test_client(), {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


# --- single event, in-process ----------------------------------------------------------------------------------

def latencies(client, headers: dict, count: int, prefix: str) -> tuple[float, float]:
    """p50 and p99 in ms of `count` one-event requests."""
    bodies = [json.dumps(make_event(i, prefix)) for i in range(count)]
    timings = []
    for body in bodies:
        started = time.perf_counter()
        response = client.post("/api/v1/usage", data=body, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.data
    cuts = statistics.quantiles(timings, n=100)
    return cuts[49], cuts[98]


# --- over HTTP ---------------------------------------------------------------------------------------------------

WRK_SCRIPT = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) prefix = os.getenv("BB_PREFIX") .. "-" .. id; counter = 0 end
function request()
  counter = counter + 1
  local body = string.format('{"event_id":"%s-%d","story":"PROJ-%d","model":"gpt-4o","agent":"agent-%d",'
    .. '"run_id":"%s-run-%d","input_tokens":1200,"output_tokens":300}',
    prefix, counter, counter % 500 + 1, counter % 7, prefix, math.floor(counter / 50))
  return wrk.format("POST", "/api/v1/usage", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BB_TOKEN")}, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(call: str, url: str, cwd: Path, env: dict | None = None):
    """waitress serving `call` with the Procfile's options, on a free port; yields the base URL."""
    port = free_port()
    waitress = Path(sys.executable).parent / "waitress-serve"
    server = subprocess.Popen([str(waitress), f"--listen=127.0.0.1:{port}", "--threads=8", "--connection-limit=1000",
                               "--asyncore-use-poll", "--call", call], cwd=cwd,
                              env={**os.environ, "BUDGETBOT_DATABASE_URL": url, "BUDGETBOT_LOG_LEVEL": "WARNING",
                                   "PYTHONPATH": str(ROOT), **(env or {})},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{call} did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def wrk(base: str, token: str, seconds: int, script: Path, engine) -> tuple[float, float, int]:
    """Requests/s, p99 in ms, and answers that were not 2xx, from wrk with 8 connections on 2 threads; checks that
    every request stored its event (a broken script would have wrk measure GET / instead)."""
    before = stored(engine)
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script), base],
                         env={**os.environ, "BB_TOKEN": token, "BB_PREFIX": uuid.uuid4().hex[:8]},
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sent = int(re.search(r"(\d+) requests in", out).group(1))
    # wrk counts the requests it completed; those cut off at the end may still have landed.
    assert stored(engine) - before >= sent, (base, out)
    return rate, p99, int(errors.group(1)) if errors else 0


def stored(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM usage_events")).scalar_one()


# --- the run -----------------------------------------------------------------------------------------------------

def run(label: str, url: str, args) -> None:
    print(f"\n[{label}]")
    app = create_app({"database_url": url, "log_level": "WARNING"})
    engine = get_db(app).engine

    ratios, cpu_ratios = [], []
    raw_name = "executemany" if engine.dialect.name == "sqlite" else "COPY"
    for round_ in range(args.rounds):
        first_raw = round_ % 2 == 0
        raw = raw_load(engine, args.events, args.batch) if first_raw else None
        ours = app_batches(app, args.events, args.batch)
        raw = raw if raw is not None else raw_load(engine, args.events, args.batch)
        ratios.append(ours[0] / raw[0])
        cpu_ratios.append(ours[1] / raw[1])
        print(f"  batch  round {round_ + 1}: app {ours[0]:>8,.0f} events/s, raw {raw_name} {raw[0]:>8,.0f} rows/s: "
              f"{ours[0] / raw[0]:.1%} (by CPU time {ours[1] / raw[1]:.1%})")
    print(f"  batch  app / raw {raw_name}: {summary(ratios)}; by CPU time {summary(cpu_ratios)}   "
          f"target >= {'25' if engine.dialect.name == 'sqlite' else '20'}%")

    app_batches(app, args.events, args.batch)  # the single-event figures are taken on a ledger holding a batch run
    client, headers = client_with_token(app, "single")
    baseline = create_baseline(url).test_client()
    p99s, p50s, ratio = [], [], []
    for round_ in range(args.rounds):
        prefix = f"s{round_}"
        if round_ % 2 == 0:
            base = latencies(baseline, headers, args.single, f"base-{prefix}")
        ours = latencies(client, headers, args.single, prefix)
        if round_ % 2 == 1:
            base = latencies(baseline, headers, args.single, f"base-{prefix}")
        p50s.append(ours[0])
        p99s.append(ours[1])
        ratio.append(ours[1] / base[1])
        print(f"  single round {round_ + 1}: app p50 {ours[0]:.2f} ms, p99 {ours[1]:.2f} ms; "
              f"baseline p50 {base[0]:.2f} ms, p99 {base[1]:.2f} ms")
    print(f"  single app p99: min {min(p99s):.2f} ms / median {statistics.median(p99s):.2f} ms "
          f"(p50 median {statistics.median(p50s):.2f} ms); {min(ratio):.1f}x / {statistics.median(ratio):.1f}x the "
          f"baseline's p99   target p99 <= {'3' if 'sqlite' in url else '5'} ms")

    if shutil.which("wrk") is None:
        print("  http   skipped: wrk is not installed (apt install wrk)")
    else:
        http(url, app, args)
    get_db(app).dispose()


def http(url: str, app, args) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    _, headers = client_with_token(app, "http")
    token = headers["Authorization"].removeprefix("Bearer ")
    ratios = []
    with (served("bot.app:create_app", url, ROOT) as ours,
          served("baseline_app:create_app", url, ROOT / "bench") as base):
        for round_ in range(args.rounds):
            order = [(ours, "app"), (base, "baseline")]
            figures = {name: wrk(where, token, args.http_seconds, Path(script.name), get_db(app).engine)
                       for where, name in (order if round_ % 2 == 0 else order[::-1])}
            (rate, p99, bad), (base_rate, base_p99, base_bad) = figures["app"], figures["baseline"]
            assert bad == 0 and base_bad == 0, figures
            ratios.append(rate / base_rate)
            print(f"  http   round {round_ + 1}: app {rate:,.0f} req/s p99 {p99:.1f} ms; baseline {base_rate:,.0f} "
                  f"req/s p99 {base_p99:.1f} ms: {rate / base_rate:.1%}")
    os.unlink(script.name)
    print(f"  http   app / baseline requests/s: {summary(ratios)}   target >= 40%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events per batch run")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=1000, help="one-event requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http-seconds", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("BUDGETBOT_BENCH_POSTGRES_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL server to connect to; a database of the benchmark's own is made there")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.sqlite3", args)
    if not args.no_postgres:
        with own_database(args.postgres) as url:  # the test suite's: made for this run, dropped after
            run("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
