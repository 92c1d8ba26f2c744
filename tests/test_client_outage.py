"""budgetbot down, slow or refusing: the agent is never blocked and no usage event is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import client_support
from budgetbot_client.batch import Backoff
from client_support import ledger_count, ledger_rows, wait_for

live, make_client, token = client_support.live, client_support.make_client, client_support.token  # fixtures

USAGE = {"prompt_tokens": 10, "completion_tokens": 2}


# A record() that waited on the network would take the client's timeout (2 s) or a retry backoff; the
# bound leaves room for a loaded 2-core machine descheduling the agent thread, not for either of those.
NEVER_WAITED = 0.25


def record_many(budget, count, prefix="e"):
    """Record `count` events; returns the slowest single record() call in seconds."""
    slowest = 0.0
    for i in range(count):
        started = time.perf_counter()
        budget.record(USAGE, story="PROJ-1", model="gpt-4o", event_id=f"{prefix}{i}")
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


def test_server_down_for_a_moment_nothing_lost_agent_not_blocked(make_client, live, db):
    budget = make_client()
    record_many(budget, 5, "before")
    assert budget.flush(10)
    live.stop()

    slowest = record_many(budget, 200, "down")
    wait_for(lambda: budget.spool_path.exists(), message="events spooled while budgetbot is down")
    slowest = max(slowest, record_many(budget, 200, "down-more"))
    assert slowest < NEVER_WAITED

    live.start()  # same port: budgetbot restarted
    assert budget.flush(15)

    assert ledger_count(db) == 405
    assert not budget.spool_path.exists()


def test_503_with_retry_after_is_retried(make_client, live, db):
    budget = make_client()
    live.unavailable, live.retry_after = True, "1"
    budget.record(USAGE, story="PROJ-1", model="gpt-4o", event_id="a")
    wait_for(lambda: live.requests.count("/api/v1/usage") >= 1, message="a first attempt")
    live.unavailable = False

    assert wait_for(lambda: ledger_count(db) == 1, message="the retry after Retry-After")


def test_retry_after_is_clamped():
    backoff = Backoff(max_retry_after=60)
    assert backoff.clamp(3600) == 60
    assert backoff.clamp(-5) == 0
    assert all(0 <= backoff.delay(n) <= backoff.cap for n in range(40))


def test_spooled_events_are_replayed_by_the_next_client(make_client, live, db, tmp_path):
    spool = tmp_path / "shared-spool.jsonl"
    live.stop()
    first = make_client(spool_path=spool)
    record_many(first, 30)
    assert first.close(timeout=0.3) is False  # could not deliver: kept on disk
    lines = spool.read_text().splitlines()
    assert len(lines) == 30 and json.loads(lines[0])["event_id"] == "e0"

    live.start()
    second = make_client(spool_path=spool)  # e.g. the agent's next run
    assert second.flush(10)

    assert sorted(r.event_id for r in ledger_rows(db)) == sorted(f"e{i}" for i in range(30))
    assert not spool.exists()


def test_a_full_queue_spills_to_the_spool_on_the_callers_thread(make_client, live, db):
    live.stop()
    budget = make_client(max_queue=5)
    slowest = record_many(budget, 60)
    assert slowest < NEVER_WAITED
    live.start()
    assert budget.flush(15)
    assert ledger_count(db) == 60


def test_events_of_a_process_that_died_mid_replay_are_adopted(make_client, db, tmp_path):
    spool = tmp_path / "spool.jsonl"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    event = {"event_id": "orphan", "model": "gpt-4o", "story": "PROJ-1", "input_tokens": 3, "output_tokens": 1}
    (tmp_path / f"spool.jsonl.{dead.stdout.strip()}.claim").write_text(json.dumps(event) + "\n{\"cut short")

    budget = make_client(spool_path=spool)
    assert budget.flush(10)
    assert [r.event_id for r in ledger_rows(db)] == ["orphan"]
    assert list(tmp_path.glob("*.claim")) == []


def test_a_rejected_token_keeps_the_events_for_later(make_client, db, tmp_path, caplog):
    spool = tmp_path / "spool.jsonl"
    wrong = make_client(token="not-the-token", spool_path=spool)
    record_many(wrong, 3)
    wait_for(lambda: spool.exists(), message="events kept after a 401")
    wrong.close(timeout=0.3)
    assert ledger_count(db) == 0
    assert sum("rejected the API token" in r.getMessage() for r in caplog.records) == 1

    fixed = make_client(spool_path=spool)
    assert fixed.flush(10)
    assert ledger_count(db) == 3


def test_events_are_flushed_when_the_agent_process_exits(live, token, db, tmp_path):
    agent = textwrap.dedent(f"""
        from budgetbot_client import BudgetClient
        budget = BudgetClient({live.url!r}, {token!r}, agent="coder", spool_path={str(tmp_path / 's.jsonl')!r})
        for i in range(25):
            budget.record({{"input_tokens": 5, "output_tokens": 1}}, story="PROJ-9", model="gpt-4o")
        # no flush, no close: atexit sends them
    """)
    done = subprocess.run([sys.executable, "-c", agent], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert ledger_count(db) == 25


def test_closing_while_budgetbot_is_down_does_not_hold_the_agent(make_client, live, tmp_path):
    live.stop()
    budget = make_client(spool_path=tmp_path / "spool.jsonl")
    record_many(budget, 10)
    started = time.perf_counter()
    assert budget.close() is False  # default close_timeout is 5 s: one attempt, then the spool
    assert time.perf_counter() - started < 2
    assert len((tmp_path / "spool.jsonl").read_text().splitlines()) == 10
