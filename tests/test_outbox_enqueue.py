"""enqueue(): a row in the caller's transaction; same coalesce key while pending -> latest payload wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from outbox_helpers import RECORDER, T0, add, row, rows, test_senders

from bot.app_pricer import get_pricer
from bot.db import utcnow
from bot.ledger.ingest import ingest
from bot.ledger.usage_shapes import parse_usage_body
from bot.outbox import SendContext, SenderSet, enqueue
from bot.outbox.worker import run_once


@pytest.fixture
def settings(app):
    return app.config["SETTINGS"]


def test_enqueue_returns_the_stored_row(db):
    with db.transaction() as session:
        first = enqueue(session, "test.notify", {"v": 1}, coalesce_key="k", now=T0)
        again = enqueue(session, "test.notify", {"v": 2}, coalesce_key="k", now=T0 + timedelta(seconds=5))
        plain = enqueue(session, "test.notify", {"v": 3}, now=T0)

        assert again is first and first.payload == {"v": 2}
        assert (first.state, first.attempts, first.next_attempt_at, first.created_at) == ("pending", 0, T0, T0)
        assert plain.id != first.id and plain.coalesce_key is None
    assert [(r.id, r.payload) for r in rows(db)] == [(first.id, {"v": 2}), (plain.id, {"v": 3})]


def test_coalescing_replaces_kind_and_payload_but_keeps_the_due_time(db):
    with db.transaction() as session:
        enqueue(session, "test.notify", {"v": 1}, coalesce_key="k", delay=timedelta(minutes=5), now=T0)
    with db.transaction() as session:
        enqueue(session, "test.other", {"v": 2}, coalesce_key="k", now=T0 + timedelta(minutes=1))

    (only,) = rows(db)
    assert (only.kind, only.payload) == ("test.other", {"v": 2})
    assert only.next_attempt_at == T0 + timedelta(minutes=5)


def test_a_delayed_row_is_not_sent_before_its_time(db, settings):
    RECORDER.sent.clear()
    with db.transaction() as session:
        enqueue(session, "test.record", {"n": 1}, delay=timedelta(minutes=10), now=T0)

    assert run_once(db, settings, now=T0 + timedelta(minutes=9)) == 0
    assert run_once(db, settings, now=T0 + timedelta(minutes=10)) == 1


def test_different_keys_and_keyless_rows_do_not_coalesce(db):
    add(db, key="jira-spend:PROJ-1")
    add(db, key="jira-spend:PROJ-2")
    add(db)
    add(db)

    assert len(rows(db)) == 4


def test_enqueue_from_a_spend_listener_commits_with_the_usage_event(app, db):
    # The way integrations use it: inside the transaction that recorded the spend.
    with app.app_context(), db.transaction() as session:
        events, _ = parse_usage_body({"event_id": "e1", "story": "PROJ-1", "model": "gpt-4o",
                                      "input_tokens": 10, "output_tokens": 5}, 10)
        ingest(session, events, get_pricer(), app.config["SETTINGS"].warn_threshold)
        enqueue(session, "test.notify", {"key": "PROJ-1"}, coalesce_key="jira-spend:PROJ-1")

    assert [(r.kind, r.coalesce_key) for r in rows(db)] == [("test.notify", "jira-spend:PROJ-1")]


def test_a_sender_can_keep_state_in_its_own_transaction(db, settings, test_senders):
    seen: list[tuple] = []
    stateful_senders = SenderSet("othertest")

    @stateful_senders.sender("test.stateful")
    def stateful(payload: dict, ctx: SendContext) -> dict:
        with ctx.db.transaction() as session:  # no transaction of the worker is open meanwhile
            seen.append((ctx.row_id, ctx.attempt, len(rows(ctx.db)), session is not None))
        return {"comment_id": "10042"}

    test_senders.add_senders(stateful_senders)
    row_id = add(db, kind="test.stateful")

    assert run_once(db, settings, now=utcnow()) == 1
    assert seen == [(row_id, 1, 1, True)]
    assert row(db, row_id).result == {"comment_id": "10042"}


def test_enqueue_stores_exactly_what_the_orm_would(db):
    # enqueue writes through the DB-API cursor for speed; the stored bytes must not differ.
    from sqlalchemy import text

    from bot.outbox.tables import OutboxRow

    payload = {"text": "PROJ-1 is over budget — 120%", "items": [1, None, True]}
    when = T0 + timedelta(microseconds=123456)
    with db.transaction() as session:
        enqueue(session, "test.notify", payload, coalesce_key="k", now=when)
        session.add(OutboxRow(kind="test.notify", payload=payload, state="pending", attempts=0,
                              next_attempt_at=when, created_at=when, updated_at=when))
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT payload, next_attempt_at, created_at FROM outbox ORDER BY id")).all()

    assert stored[0] == stored[1]
    assert row(db, 1).payload == payload and row(db, 1).next_attempt_at == when
