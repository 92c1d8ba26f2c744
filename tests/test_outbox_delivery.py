"""Outbox delivery guarantees: coalescing, one key at a time, leases, several workers, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import timedelta

import pytest
import responses
from outbox_helpers import HOOK, RECORDER, T0, Clock, add, row, rows, test_senders

from bot.outbox import enqueue
from bot.outbox.worker import Worker, run_once, stop_on_signals

ON_POSTGRES = bool(os.environ.get("BUDGETBOT_TEST_DATABASE_URL"))


@pytest.fixture
def settings(app):
    return app.config["SETTINGS"]


@pytest.fixture
def recorder():
    RECORDER.sent.clear()
    RECORDER.order.clear()
    RECORDER.hook = None
    yield RECORDER
    RECORDER.hook = None


def sent_bodies() -> list[dict]:
    return [json.loads(call.request.body) for call in responses.calls]


@responses.activate
def test_1000_enqueues_with_one_key_while_stopped_make_one_send_with_the_last_payload(db, settings):
    responses.post(HOOK, status=200)
    for n in range(1000):
        with db.transaction() as session:
            enqueue(session, "test.notify", {"spent": n}, coalesce_key="jira-spend:PROJ-1", now=T0)

    assert len(rows(db)) == 1
    assert run_once(db, settings, now=T0) == 1
    assert sent_bodies() == [{"spent": 999}]


def test_enqueue_rolls_back_with_the_change_that_caused_it(db):
    with pytest.raises(RuntimeError), db.transaction() as session:
        enqueue(session, "test.notify", {"n": 1}, coalesce_key="k")
        raise RuntimeError("the usage insert failed")

    assert rows(db) == []


@responses.activate
def test_a_row_being_sent_is_untouched_and_the_new_one_waits_behind_it(db, settings):
    responses.post(HOOK, status=200)
    first = add(db, payload={"v": 1}, key="jira-spend:PROJ-1")
    busy = Worker(db, settings, clock=Clock())
    claimed = busy.claim()

    second = add(db, payload={"v": 2}, key="jira-spend:PROJ-1")
    assert row(db, first).payload == {"v": 1} and second != first
    assert run_once(db, settings, now=T0) == 0  # v2 may not overtake v1, which is still in flight

    busy.process(claimed)
    assert run_once(db, settings, now=T0) == 1
    assert sent_bodies() == [{"v": 1}, {"v": 2}]


@responses.activate
def test_a_retry_takes_the_payload_enqueued_while_it_was_in_flight(db, settings):
    responses.post(HOOK, status=503)
    responses.post(HOOK, status=200)
    first = add(db, payload={"v": 1}, key="k")
    clock = Clock()
    worker = Worker(db, settings, clock=clock)
    claimed = worker.claim()
    add(db, payload={"v": 2}, key="k")

    worker.process(claimed)  # 503: back to pending, folding in v2
    assert [(r.id, r.state, r.payload) for r in rows(db)] == [(first, "pending", {"v": 2})]

    clock.now = row(db, first).next_attempt_at
    assert worker.drain() == 1
    assert sent_bodies() == [{"v": 1}, {"v": 2}]
    assert row(db, first).attempts == 2


def test_a_killed_worker_leaves_the_row_to_be_sent_once_after_the_lease(db, settings, recorder):
    add(db, kind="test.record", payload={"n": 1})
    doomed = Worker(db, settings, clock=Clock(), name="doomed")
    assert len(doomed.claim()) == 1  # ...and the process dies here, before sending

    lease = settings.outbox_lease_seconds
    assert run_once(db, settings, now=T0 + timedelta(seconds=lease - 1)) == 0
    assert run_once(db, settings, now=T0 + timedelta(seconds=lease + 1)) == 1
    assert run_once(db, settings, now=T0 + timedelta(seconds=lease * 3)) == 0
    assert recorder.sent == {1: 1}
    assert rows(db)[0].state == "done"


def test_a_stalled_worker_that_wakes_after_losing_its_lease_does_not_send(db, settings, recorder):
    add(db, kind="test.record", payload={"n": 1})
    clock = Clock()
    stalled = Worker(db, settings, clock=clock, name="stalled")
    batch = stalled.claim()
    clock.advance(settings.outbox_lease_seconds + 1)
    assert run_once(db, settings, now=clock.now) == 1  # another worker reclaimed and sent it

    assert stalled.process(batch) == 0

    assert recorder.sent == {1: 1}


def test_stop_finishes_the_row_in_hand_and_hands_the_rest_back(db, settings, recorder):
    for n in range(5):
        add(db, kind="test.record", payload={"n": n})
    stop = threading.Event()
    recorder.hook = lambda payload: stop.set()  # the stop request arrives during the first send
    worker = Worker(db, settings, clock=Clock())

    worker.run(stop)

    assert recorder.sent == {0: 1}
    assert [(r.state, r.attempts, r.lease_owner) for r in rows(db)] == \
        [("done", 1, None)] + [("pending", 0, None)] * 4
    assert run_once(db, settings, now=T0) == 4  # due at once: nobody waits for a lease


def test_sigterm_stops_the_worker_gracefully(db, settings, recorder):
    for n in range(3):
        add(db, kind="test.record", payload={"n": n})
    stop = threading.Event()
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop_on_signals(stop)
        recorder.hook = lambda payload: signal.raise_signal(signal.SIGTERM)
        Worker(db, settings, clock=Clock()).run(stop)
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])

    assert recorder.sent == {0: 1}
    assert [r.state for r in rows(db)] == ["done", "pending", "pending"]


@pytest.mark.skipif(not ON_POSTGRES, reason="several workers need PostgreSQL (SQLite runs one worker)")
def test_two_workers_on_postgres_send_each_of_500_rows_exactly_once(db, settings, recorder):
    settings = settings.model_copy(update={"outbox_batch_size": 10})
    with db.transaction() as session:
        for n in range(500):
            enqueue(session, "test.record", {"n": n}, coalesce_key=f"key-{n}" if n % 2 else None)
    recorder.hook = lambda payload: time.sleep(0.001)  # let the workers interleave
    start = threading.Barrier(2)
    counts, errors = {}, []

    def work(name):
        try:
            worker = Worker(db, settings, name=name)
            start.wait()
            counts[name] = worker.drain()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert set(recorder.sent) == set(range(500)) and set(recorder.sent.values()) == {1}
    assert sum(counts.values()) == 500 and min(counts.values()) > 0  # both did real work
    assert {r.state for r in rows(db)} == {"done"}


@pytest.mark.skipif(not ON_POSTGRES, reason="concurrent enqueuers need PostgreSQL")
def test_concurrent_enqueues_with_one_key_leave_one_pending_row(db):
    errors = []
    start = threading.Barrier(8)

    def enqueuer(i):
        try:
            start.wait()
            for n in range(25):
                with db.transaction() as session:
                    enqueue(session, "test.notify", {"writer": i, "n": n}, coalesce_key="jira-spend:PROJ-9")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enqueuer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len([r for r in rows(db) if r.state == "pending"]) == 1
