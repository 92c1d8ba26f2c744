"""Preflight benchmark: in-process latency at 100k and 1M ledger rows (target p99 <= 2 ms, goal 1 ms; O(1) in
the ledger size) and over loopback HTTP with 8 concurrent clients (target p99 <= 10 ms), each with the ratio to a
baseline measured in the same run, interleaved, repeated (min and median of the rounds' p50/p99).

    python bench/preflight.py                          # SQLite (temporary file), 100k then 1M rows
    python bench/preflight.py --postgres URL           # PostgreSQL instead (the database is emptied first!)
    python bench/preflight.py --rows 100000 300000 --rounds 5 --calls 300
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import served  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from bot.all_tables import metadata  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.db import get_db, utcnow  # noqa: E402
from bot.guardrails.figures import periods  # noqa: E402
from bot.guardrails.preflight import current_policy, run_preflight  # noqa: E402
from bot.guardrails.reservations import release  # noqa: E402
from bot.guardrails.shapes import PreflightIn  # noqa: E402
from bot.ledger.tables import AgentDay, RunStat, Story, UsageEvent  # noqa: E402
from bot.web.auth import create_token  # noqa: E402

STORIES, AGENTS, RUN_EVENTS = 500, 8, 5000  # every run is a long one: 5,000 calls
POLICY = "[run]\nmax_tokens = 10_000_000\nmax_tool_calls = 100_000\n[day]\nmax_usd = 100000\n" \
         "[org_day]\nmax_calls = 100000000\n[month]\nbudget_usd = 100000000\n"


def seed(app, start: int, stop: int) -> None:
    """Ledger rows start..stop (raw, chunked) and the rollups preflight reads, as ingest would leave them."""
    now = utcnow()
    today = date.fromisoformat(periods(now, app.config["SETTINGS"].timezone)[0])
    engine = get_db(app).engine
    for chunk in range(start, stop, 20_000):
        rows = [{"event_id": f"e{i}", "content_hash": "x", "story_key": f"PROJ-{i % STORIES + 1}",
                 "occurred_at": now - timedelta(seconds=stop - i), "received_at": now, "agent": f"agent-{i % AGENTS}",
                 "model": "gpt-4o", "run_id": f"run-{i // RUN_EVENTS}", "input_tokens": 1000, "output_tokens": 100,
                 "cost_nano_usd": 2_000_000, "priced": True, "price_source": "genai-prices", "outcome": "ok",
                 "tool_calls": 1, "attributes": {}} for i in range(chunk, min(chunk + 20_000, stop))]
        with engine.begin() as connection:
            connection.execute(insert(UsageEvent), rows)
    total = stop
    with engine.begin() as connection:
        connection.execute(Story.__table__.delete())
        connection.execute(RunStat.__table__.delete())
        connection.execute(AgentDay.__table__.delete())
        per_story = total // STORIES
        connection.execute(insert(Story), [
            {"key": f"PROJ-{s + 1}", "project": "PROJ", "budget_tokens": per_story * 1100 * 2,
             "budget_nano_usd": per_story * 2_000_000 * 2, "spent_tokens": per_story * 1100,
             "spent_nano_usd": per_story * 2_000_000, "events": per_story, "unpriced_events": 0, "deleted": False,
             "updated_at": now} for s in range(STORIES)])
        connection.execute(insert(RunStat), [
            {"run_id": f"run-{r}", "story_key": f"PROJ-{r % STORIES + 1}", "agent": "agent-0", "model": "gpt-4o",
             "first_event_at": now - timedelta(minutes=5), "last_event_at": now, "nano_usd": RUN_EVENTS * 2_000_000,
             "tokens": RUN_EVENTS * 1100, "events": RUN_EVENTS, "tool_calls": RUN_EVENTS, "errors": 0,
             "errors_since_ok": 0, "max_error_streak": 0} for r in range(total // RUN_EVENTS)])
        days = [today - timedelta(days=n) for n in range(today.day)]  # the month so far
        connection.execute(insert(AgentDay), [
            {"day": day, "agent": f"agent-{a}", "tokens": total * 1100 // AGENTS // len(days),
             "nano_usd": total * 2_000_000 // AGENTS // len(days), "events": total // AGENTS // len(days)}
            for day in days for a in range(AGENTS)])


def quantiles(timings: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(timings, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def in_process(app, rows: int, rounds: int, calls: int) -> dict[str, list[tuple[float, float]]]:
    db, settings, policy = get_db(app), app.config["SETTINGS"], current_policy(app)
    runs = rows // RUN_EVENTS

    def request(estimate: bool) -> PreflightIn:
        n = random.randrange(STORIES)
        return PreflightIn(story=f"PROJ-{n + 1}", agent=f"agent-{n % AGENTS}", run_id=f"run-{random.randrange(runs)}",
                           model="gpt-4o", estimated_tokens=2000 if estimate else None)

    def baseline() -> None:  # a primary-key read of the story, on the same read path
        with db.read() as session:
            session.execute(select(Story).where(Story.key == f"PROJ-{random.randrange(STORIES) + 1}")).first()

    variants = {"baseline: story PK read": baseline,
                "preflight (no estimate, read path)": lambda: run_preflight(db, request(False), settings, policy),
                "preflight + reservation (write)": lambda: run_preflight(db, request(True), settings, policy)}
    held: list[str] = []

    def settle(answer) -> None:
        # An agent's usage event settles its reservation: live reservations are the calls in flight (each
        # preflight sums them), not every call the benchmark ever made.
        if isinstance(answer, dict) and answer.get("reservation_id"):
            held.append(answer["reservation_id"])
        if len(held) >= 20:
            with db.transaction() as session:
                for reservation_id in held:
                    release(session, reservation_id)
            held.clear()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    with app.app_context():
        for fn in variants.values():  # warm caches and compiled statements
            for _ in range(50):
                settle(fn())
        for _ in range(rounds):
            for name, fn in variants.items():  # interleaved: each round runs every variant
                timings = []
                for _ in range(calls):
                    begin = time.perf_counter()
                    answer = fn()
                    timings.append(time.perf_counter() - begin)
                    settle(answer)
                results[name].append(quantiles(timings))
    return results


def report(title: str, results: dict[str, list[tuple[float, float]]], target_ms: float | None = None) -> None:
    base = results[next(iter(results))]
    base_p50 = statistics.median(p50 for p50, _ in base)
    base_p99 = statistics.median(p99 for _, p99 in base)
    print(f"\n{title}")
    print(f"  {'variant':<38} {'p50 min/med ms':>16} {'p99 min/med ms':>16} {'x base p50':>10} {'x base p99':>10}")
    for name, values in results.items():
        p50s, p99s = [v[0] for v in values], [v[1] for v in values]
        print(f"  {name:<38} {min(p50s):7.3f}/{statistics.median(p50s):<7.3f} {min(p99s):7.3f}/"
              f"{statistics.median(p99s):<7.3f} {statistics.median(p50s) / base_p50:10.1f} "
              f"{statistics.median(p99s) / base_p99:10.1f}")
    if target_ms is not None:
        name = list(results)[1]
        best = min(p99 for _, p99 in results[name])
        print(f"  target: {name} p99 <= {target_ms:g} ms; best round {best:.3f} ms "
              f"({'met' if best <= target_ms else 'NOT met'}), median round "
              f"{statistics.median(p99 for _, p99 in results[name]):.3f} ms")


def over_http(url: str, env: dict, rows: int, rounds: int, calls: int, clients: int = 8) -> dict:
    """p50/p99 of preflight over loopback against the Procfile's waitress, `clients` at a time, vs GET /healthz."""
    with served("bot.app:create_app", url, ROOT, env) as base:
        return _over_http(base, env, rows, rounds, calls, clients)


def _over_http(base: str, env: dict, rows: int, rounds: int, calls: int, clients: int) -> dict:
    token = env["BENCH_TOKEN"]
    runs = rows // RUN_EVENTS

    def preflight() -> None:
        n = random.randrange(STORIES)
        body = (f'{{"story": "PROJ-{n + 1}", "agent": "agent-{n % AGENTS}", '
                f'"run_id": "run-{random.randrange(runs)}"}}').encode()
        req = urllib.request.Request(base + "/api/v1/preflight", data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def health() -> None:
        urllib.request.urlopen(base + "/healthz", timeout=10).read()

    results: dict[str, list[tuple[float, float]]] = {"baseline: GET /healthz": [],
                                                     "POST /api/v1/preflight": []}
    fns = dict(zip(results, (health, preflight), strict=True))
    for _ in range(rounds):
        for name, fn in fns.items():
            timings: list[float] = []
            lock = threading.Lock()

            def client(fn=fn, timings=timings, lock=lock) -> None:
                mine = []
                for _ in range(calls // clients):
                    begin = time.perf_counter()
                    fn()
                    mine.append(time.perf_counter() - begin)
                with lock:
                    timings.extend(mine)

            threads = [threading.Thread(target=client) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            results[name].append(quantiles(timings))
    return results


def _worker(url: str, policy: str, rows: int, seconds: float, start_at: float, answers) -> None:
    """One server process's worth of preflights (in-process, no HTTP), as many as fit in `seconds`."""
    app = create_app({"database_url": url, "log_level": "WARNING", "policy_file": policy})
    db, settings, policy_now = get_db(app), app.config["SETTINGS"], current_policy(app)
    runs = rows // RUN_EVENTS
    with app.app_context():
        run_preflight(db, PreflightIn(agent="agent-0"), settings, policy_now)  # connected, statements built
        while time.time() < start_at:
            time.sleep(0.001)
        done, stop = 0, start_at + seconds
        while time.time() < stop:
            n = random.randrange(STORIES)
            run_preflight(db, PreflightIn(story=f"PROJ-{n + 1}", agent=f"agent-{n % AGENTS}",
                                          run_id=f"run-{random.randrange(runs)}"), settings, policy_now)
            done += 1
    answers.put(done)


def scaling(url: str, policy: Path, rows: int, rounds: int, seconds: float) -> None:
    """Preflights/s of two worker processes vs one (the Procfile runs one web process per core): reads must not
    take the database's write lock, or the second process only waits."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    rates: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(rounds):
        for count in ((1, 2) if round_ % 2 == 0 else (2, 1)):
            answers = context.Queue()
            start_at = time.time() + 8  # every process imported and connected before the clock starts
            processes = [context.Process(target=_worker, args=(url, str(policy), rows, seconds, start_at, answers))
                         for _ in range(count)]
            for process in processes:
                process.start()
            total = sum(answers.get(timeout=120) for _ in processes)
            for process in processes:
                process.join()
            rates[count].append(total / seconds)
    ratios = [two / one for one, two in zip(rates[1], rates[2], strict=True)]
    print(f"\nworker processes, {rounds} rounds x {seconds:g} s, interleaved")
    print(f"  1 worker : {statistics.median(rates[1]):,.0f} preflights/s (median)")
    print(f"  2 workers: {statistics.median(rates[2]):,.0f} preflights/s (median)")
    print(f"  2 workers / 1: min {min(ratios):.2f}x / median {statistics.median(ratios):.2f}x   target >= 1.6x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="PostgreSQL URL (emptied first!) instead of a temporary SQLite file")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--scaling-seconds", type=float, default=5.0, help="per measurement of 1 vs 2 workers")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-preflight-")
    url = args.postgres or f"sqlite:///{folder}/bench.sqlite3"
    policy = Path(folder) / "policy.toml"
    policy.write_text(POLICY)
    settings = {"database_url": url, "log_level": "WARNING", "policy_file": str(policy)}
    app = create_app(settings)
    metadata.drop_all(get_db(app).engine)
    metadata.create_all(get_db(app).engine)
    with get_db(app).transaction() as session:
        token = create_token(session, "bench")
    done = 0
    for rows in sorted(args.rows):
        started = time.perf_counter()
        seed(app, done, rows)
        done = rows
        print(f"\n== {rows:,} ledger rows, {STORIES} stories, {rows // RUN_EVENTS:,} runs "
              f"({get_db(app).engine.dialect.name}; seeded in {time.perf_counter() - started:.0f} s)")
        report(f"in-process, {args.rounds} rounds x {args.calls} calls", in_process(app, rows, args.rounds, args.calls),
               target_ms=2)
        if not args.no_http:
            env = {"BUDGETBOT_DATABASE_URL": url, "BUDGETBOT_LOG_LEVEL": "WARNING",
                   "BUDGETBOT_POLICY_FILE": str(policy), "BENCH_TOKEN": token}
            report(f"loopback HTTP, 8 concurrent clients, {args.rounds} rounds x {args.calls} calls",
                   over_http(url, env, rows, args.rounds, args.calls), target_ms=10)
    scaling(url, policy, done, args.rounds, args.scaling_seconds)
    get_db(app).dispose()


if __name__ == "__main__":
    main()
