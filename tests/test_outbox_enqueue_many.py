"""enqueue_many(): a batch's rows in one statement, coalescing exactly as one enqueue() after another would."""

from __future__ import annotations

import random
from datetime import timedelta

from outbox_helpers import T0, add, rows
from sqlalchemy import text, update

from bot.outbox import Outgoing, enqueue, enqueue_many
from bot.outbox.tables import OutboxRow


def state(db) -> list[tuple]:
    return [(r.kind, r.coalesce_key, r.payload, r.state, r.attempts, r.next_attempt_at, r.created_at)
            for r in rows(db)]


def test_a_pending_row_takes_the_new_payload_and_keeps_its_due_time(db):
    add(db, key="k", payload={"v": 1})
    with db.transaction() as session:
        enqueue(session, "test.notify", {"v": 1}, coalesce_key="late", delay=timedelta(minutes=5), now=T0)
    with db.transaction() as session:
        enqueue_many(session, [Outgoing("test.other", {"v": 2}, "k"), Outgoing("test.notify", {"v": 3}, "late"),
                               Outgoing("test.notify", {"v": 4}, "new", delay=timedelta(seconds=30))],
                     now=T0 + timedelta(minutes=1))

    assert [(r.kind, r.coalesce_key, r.payload, r.next_attempt_at) for r in rows(db)] == [
        ("test.other", "k", {"v": 2}, T0),
        ("test.notify", "late", {"v": 3}, T0 + timedelta(minutes=5)),
        ("test.notify", "new", {"v": 4}, T0 + timedelta(minutes=1, seconds=30))]


def test_a_row_being_sent_is_left_alone_and_the_new_one_waits_behind_it(db):
    sending = add(db, key="k", payload={"v": 1})
    with db.transaction() as session:
        session.execute(update(OutboxRow).where(OutboxRow.id == sending).values(state="sending", attempts=1))
    with db.transaction() as session:
        (new,) = enqueue_many(session, [Outgoing("test.notify", {"v": 2}, "k")], now=T0)

    assert new != sending
    assert [(r.id, r.state, r.payload) for r in rows(db)] == [(sending, "sending", {"v": 1}),
                                                              (new, "pending", {"v": 2})]


def test_rows_sharing_a_key_fold_to_the_last_payload_and_the_first_due_time(db):
    with db.transaction() as session:
        enqueue_many(session, [Outgoing("test.notify", {"v": 1}, "k", delay=timedelta(seconds=60)),
                               Outgoing("test.notify", {"n": 1}), Outgoing("test.notify", {"n": 1}),
                               Outgoing("test.other", {"v": 2}, "k")], now=T0)

    assert [(r.kind, r.coalesce_key, r.payload, r.next_attempt_at) for r in rows(db)] == [
        ("test.other", "k", {"v": 2}, T0 + timedelta(seconds=60)),
        ("test.notify", None, {"n": 1}, T0), ("test.notify", None, {"n": 1}, T0)]  # keyless rows never merge


def test_hasten_pulls_an_untried_row_forward_but_not_one_that_was_tried(db):
    with db.transaction() as session:
        enqueue_many(session, [Outgoing("test.notify", {"v": 1}, key, delay=timedelta(seconds=30))
                               for key in ("untried", "tried", "plain")], now=T0)
        session.execute(update(OutboxRow).where(OutboxRow.coalesce_key == "tried").values(attempts=1))
    later = T0 + timedelta(seconds=5)
    with db.transaction() as session:
        enqueue_many(session, [Outgoing("test.notify", {"v": 2}, key) for key in ("untried", "tried")],
                     now=later, hasten=True)
        enqueue_many(session, [Outgoing("test.notify", {"v": 2}, "plain")], now=later)

    assert {r.coalesce_key: (r.payload, r.next_attempt_at) for r in rows(db)} == {
        "untried": ({"v": 2}, later), "tried": ({"v": 2}, T0 + timedelta(seconds=30)),
        "plain": ({"v": 2}, T0 + timedelta(seconds=30))}


def test_the_same_as_one_enqueue_after_another(db):
    """Random batches with repeated keys, keyless rows, delays, and rows being sent or sent meanwhile: one
    statement a batch, or one enqueue() a row, the outbox ends up the same."""
    rng = random.Random(14)
    for round_ in range(30):
        batch = [(rng.choice(["test.notify", "test.other"]), {"round": round_, "n": n},
                  rng.choice([None, "a", "b", "c", "d"]), timedelta(seconds=rng.choice([0, 30, 60])))
                 for n in range(rng.randint(1, 12))]
        now = T0 + timedelta(seconds=round_)
        with db.transaction() as session:
            for kind, payload, key, delay in batch:
                enqueue(session, kind, payload, f"one:{key}" if key else None, delay, now=now)
            enqueue_many(session, [Outgoing(kind, {**payload, "many": True}, f"many:{key}" if key else None, delay)
                                   for kind, payload, key, delay in batch], now=now)
        # The worker meanwhile, the same on both sides: one key's row is done, another's goes out (sending).
        done, out = rng.choice("abcd"), rng.choice("abcd")
        with db.transaction() as session:
            for ns in ("one", "many"):
                session.execute(update(OutboxRow).where(OutboxRow.coalesce_key == f"{ns}:{done}",
                                                        OutboxRow.state == "sending").values(state="done"))
                session.execute(update(OutboxRow).where(OutboxRow.coalesce_key == f"{ns}:{out}",
                                                        OutboxRow.state == "pending").values(state="sending"))

    def side(many: bool) -> list[tuple]:
        return [(r.kind, r.coalesce_key and r.coalesce_key.split(":")[1],
                 {k: v for k, v in r.payload.items() if k != "many"}, r.state, r.next_attempt_at, r.created_at)
                for r in rows(db) if r.payload.get("many", False) == many]

    assert side(many=True) == side(many=False)
    assert len(side(many=True)) > 30


def test_a_row_the_session_holds_reads_what_the_statement_stored(db):
    with db.transaction() as session:
        held = enqueue(session, "test.notify", {"v": 1}, coalesce_key="k", now=T0)
        enqueue_many(session, [Outgoing("test.other", {"v": 2}, "k")], now=T0 + timedelta(seconds=1))

        assert (held.kind, held.payload, held.next_attempt_at) == ("test.other", {"v": 2}, T0)


def test_stores_exactly_what_enqueue_stores(db):
    payload = {"text": "PROJ-1 is over budget — 120%", "items": [1, None, True]}
    when = T0 + timedelta(microseconds=123456)
    with db.transaction() as session:
        enqueue(session, "test.notify", payload, now=when)
        enqueue_many(session, [Outgoing("test.notify", payload)], now=when)
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT kind, payload, state, attempts, next_attempt_at, created_at, "
                                         "updated_at FROM outbox ORDER BY id")).all()

    assert stored[0] == stored[1]
