"""GitHub benchmark: webhook answer time in-process (target p99 < 50 ms) and GitHub API calls per PR for a
burst of usage events on its story (target <= 2), with a worker polling the outbox while the burst lands.

    python bench/check_run.py                        # SQLite (temporary file)
    python bench/check_run.py --postgres URL         # also PostgreSQL (the database is emptied first!)
    python bench/check_run.py --deliveries 2000 --events 10000 --batch 1000
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import responses  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bot.all_tables import metadata  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.db import get_db, utcnow  # noqa: E402
from bot.integrations.github import client as github_client  # noqa: E402
from bot.outbox.worker import run_once  # noqa: E402
from bot.web.auth import create_token  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "github"
SECRET = "bench-secret"
API = "https://github.bench/api/v3"


def make_app(url: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    app = create_app({"database_url": url, "github_webhook_secret": SECRET, "github_app_id": 1,
                      "github_private_key": key, "github_api_url": API, "jira_projects": ["PROJ"],
                      "log_level": "WARNING"})
    engine = get_db(app).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)
    github_client.forget_clients()
    return app


def pr_delivery(action: str, number: int, sha: str, title: str, stamp: int) -> tuple[bytes, dict]:
    payload = json.loads((FIXTURES / "pull_request__opened.json").read_text())
    payload["action"], payload["number"] = action, number
    pr = payload["pull_request"]
    pr["number"], pr["title"], pr["head"]["sha"] = number, title, sha
    pr["updated_at"] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=stamp)).isoformat()
    body = json.dumps(payload).encode()
    return body, {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": f"bench-{stamp}",
                  "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
                  "Content-Type": "application/json"}


def webhook_latency(app, deliveries: int) -> dict:
    """Answer time of POST /webhooks/github: opened, then synchronize/edited on 200 PRs (bodies signed beforehand)."""
    client = app.test_client()
    prepared = []
    for i in range(deliveries + 50):
        number, action = i % 200 + 1, "opened" if i < 200 else ("synchronize", "edited")[i % 2]
        prepared.append(pr_delivery(action, number, hashlib.sha1(str(i).encode()).hexdigest(),
                                    f"PROJ-{number}: change {i}", i + 1))
    for body, headers in prepared[:50]:  # warm-up: imports, pools, first inserts
        client.post("/webhooks/github", data=body, headers=headers)
    times = []
    for body, headers in prepared[50:]:
        started = time.perf_counter()
        response = client.post("/webhooks/github", data=body, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.json
    times.sort()
    return {"n": len(times), "p50": statistics.median(times), "p95": times[int(len(times) * 0.95) - 1],
            "p99": times[int(len(times) * 0.99) - 1], "max": times[-1]}


def burst(app, events: int, batch: int, prs: int, poll: float) -> dict:
    """`prs` open PRs on PROJ-1; `events` usage events on PROJ-1 while a worker polls every `poll` s. The
    budget is half the burst, so the story crosses its warning line and then goes over mid-burst."""
    db, settings, client = get_db(app), app.config["SETTINGS"], app.test_client()
    with db.transaction() as session:
        auth = {"Authorization": f"Bearer {create_token(session, 'bench')}"}
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": events * 1100 // 2}, headers=auth)
    calls: Counter = Counter()
    run_ids = iter(range(1, 10**6))

    def created(request):
        calls[("POST", json.loads(request.body)["head_sha"])] += 1
        return 201, {}, json.dumps({"id": next(run_ids)})

    def patched(request):
        run = request.url.rsplit("/", 1)[1]
        calls[("PATCH", run)] += 1
        return 200, {}, json.dumps({"id": int(run)})

    def token(request):
        calls[("TOKEN", "")] += 1
        return 201, {}, json.dumps({"token": "t", "expires_at": (datetime.now(UTC) + timedelta(hours=1))
                                    .strftime("%Y-%m-%dT%H:%M:%SZ")})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        base = r"https://github\.bench(:443)?/api/v3"
        rsps.add_callback(responses.POST, re.compile(base + r"/app/installations/\d+/access_tokens$"), token)
        rsps.add_callback(responses.POST, re.compile(base + r"/repos/[^/]+/[^/]+/check-runs$"), created)
        rsps.add_callback(responses.PATCH, re.compile(base + r"/repos/[^/]+/[^/]+/check-runs/\d+$"), patched)
        for n in range(prs):
            body, headers = pr_delivery("opened", 9000 + n, f"{n:040d}", f"PROJ-1: part {n}", 10**6 + n)
            assert client.post("/webhooks/github", data=body, headers=headers).status_code == 200
        run_once(db, settings)
        before = sum(calls.values())

        stop = threading.Event()

        def worker():
            while not stop.wait(poll):
                run_once(db, settings)

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        bodies = [json.dumps({"events": [
            {"event_id": f"burst-{i}", "story": "PROJ-1", "model": "gpt-4o", "agent": "bench",
             "input_tokens": 1000, "output_tokens": 100, "cost_usd": "0.001"}
            for i in range(first, min(events, first + batch))]}) for first in range(0, events, batch)]
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/api/v1/usage", data=body, headers={**auth, "Content-Type": "application/json"})
            assert response.status_code == 200, response.json
        burst_s = time.perf_counter() - started
        stop.set()
        thread.join()
        # Then the worker keeps polling: the last refresh is due one interval after the burst began.
        run_once(db, settings, now=utcnow() + timedelta(seconds=settings.github_refresh_seconds + 1))
        after = sum(calls.values()) - before
    per_pr = [calls[("PATCH", str(run))] for run in range(1, prs + 1)]
    return {"prs": prs, "events": events, "burst_s": burst_s, "calls_after_burst": after,
            "calls_per_pr_max": max(per_pr), "calls_per_pr": per_pr, "refresh": settings.github_refresh_seconds}


def run(label: str, url: str, args) -> None:
    app = make_app(url)
    try:
        latency = webhook_latency(app, args.deliveries)
        print(f"[{label}] webhook answer time over {latency['n']} signed deliveries: p50 {latency['p50']:.1f} ms, "
              f"p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms "
              f"(target p99 < 50 ms)")
        get_db(app).dispose()
        app = make_app(url)
        result = burst(app, args.events, args.batch, args.prs, args.poll)
        print(f"[{label}] burst of {result['events']:,} usage events on a story with {result['prs']} open PRs "
              f"crossing over budget mid-burst ({result['burst_s']:.1f} s, worker polling every {args.poll:g} s, "
              f"refresh {result['refresh']:g} s): {result['calls_after_burst']} "
              f"GitHub API calls, per PR {result['calls_per_pr']} -> max {result['calls_per_pr_max']} "
              f"(target <= 2)")
    finally:
        get_db(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database (emptied!)")
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="events per POST /api/v1/usage")
    parser.add_argument("--prs", type=int, default=3)
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between worker passes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args)
    if args.postgres:
        run("postgresql", args.postgres, args)


if __name__ == "__main__":
    main()
