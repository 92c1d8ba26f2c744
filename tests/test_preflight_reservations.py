"""Reservations: an allowed estimate holds its headroom until the usage event naming it settles it, or it expires."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from bot.db import utcnow
from bot.guardrails.preflight import current_policy, run_preflight
from bot.guardrails.shapes import PreflightIn
from bot.guardrails.tables import Reservation
from bot.ledger.tables import UsageEvent


def ask(client, auth, **body):
    response = client.post("/api/v1/preflight", json=body, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def spend(client, auth, event_id, **fields):
    body = {"event_id": event_id, "model": "gpt-4o", "input_tokens": 100, "output_tokens": 0, **fields}
    response = client.post("/api/v1/usage", json=body, headers=auth)
    assert response.status_code == 200, response.json


def reservations(db) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Reservation))


def test_an_allowed_estimate_is_reserved_and_the_usage_event_settles_it(client, auth, db):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 1000, "usd": 1}, headers=auth)
    first = ask(client, auth, story="PROJ-1", run_id="r1", estimated_tokens=600, estimated_usd="0.10")
    assert first["decision"] == "allow" and first["reservation_id"]

    second = ask(client, auth, story="PROJ-1", run_id="r2", estimated_tokens=600)
    assert second["decision"] == "block" and second["remaining"]["story"] == {"tokens": 400, "usd": "0.9"}

    spend(client, auth, "call-1", story="PROJ-1", run_id="r1", input_tokens=300, reservation_id=first["reservation_id"])

    assert reservations(db) == 0
    with db.session_factory() as session:
        assert session.scalar(select(UsageEvent.reservation_id)) == first["reservation_id"]
    third = ask(client, auth, story="PROJ-1", run_id="r2", estimated_tokens=600)
    assert third["decision"] == "allow" and third["remaining"]["story"]["tokens"] == 700


def test_a_reservation_expires(app, client, auth, db):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 1000}, headers=auth)
    assert ask(client, auth, story="PROJ-1", estimated_tokens=900)["decision"] == "allow"
    assert ask(client, auth, story="PROJ-1", estimated_tokens=900)["decision"] == "block"

    later = utcnow() + timedelta(seconds=app.config["SETTINGS"].reservation_seconds + 1)
    with app.app_context():
        answer = run_preflight(db, PreflightIn(story="PROJ-1", estimated_tokens=900), app.config["SETTINGS"],
                               current_policy(app), now=later)
    assert answer["decision"] == "allow"


def test_reserved_headroom_counts_against_run_and_day_caps(client, auth, tmp_path, app):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 10_000}, headers=auth)
    first = ask(client, auth, story="PROJ-1", run_id="r1", agent="coder", estimated_tokens=3000)
    answer = ask(client, auth, story="PROJ-1", run_id="r1", agent="coder")

    assert first["decision"] == "allow"
    assert answer["remaining"]["story"]["tokens"] == 7000


def test_ten_parallel_runs_at_95_percent_cannot_all_take_the_last_headroom(app, client, auth, db):
    client.put("/api/v1/stories/PROJ-9/budget", json={"tokens": 10_000}, headers=auth)
    spend(client, auth, "warm-up", story="PROJ-9", input_tokens=9_500)
    start = threading.Barrier(10)
    answers: list[dict] = []

    def run(index: int) -> None:
        local = app.test_client()
        start.wait()
        response = local.post("/api/v1/preflight", headers=auth,
                              json={"story": "PROJ-9", "run_id": f"run-{index}", "estimated_tokens": 400})
        answers.append(response.json)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    decisions = sorted(a["decision"] for a in answers)
    assert decisions.count("block") == 9, decisions
    assert decisions.count("allow") + decisions.count("warn") == 1
    assert reservations(db) == 1


def test_a_call_not_made_releases_its_reservation(client, auth, db):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 1000}, headers=auth)
    held = ask(client, auth, story="PROJ-1", estimated_tokens=900)

    released = client.delete(f"/api/v1/preflight/reservations/{held['reservation_id']}", headers=auth)
    assert released.status_code == 200 and reservations(db) == 0
    assert ask(client, auth, story="PROJ-1", estimated_tokens=900)["decision"] == "allow"
    again = client.delete(f"/api/v1/preflight/reservations/{held['reservation_id']}", headers=auth)
    assert again.status_code == 404 and again.json["error"] == "no_such_reservation"


def test_a_read_only_preflight_does_not_wait_for_the_sqlite_write_lock(app, db, db_url):
    """Another process holding the write lock (a long ingest batch) must not stall preflight (SQLite only)."""
    if not db_url.startswith("sqlite"):
        return
    holding, done = threading.Event(), threading.Event()

    def writer() -> None:
        with db.transaction() as session:  # BEGIN IMMEDIATE: the write lock, until `done`
            session.execute(select(1))
            holding.set()
            done.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait(10)
    try:
        with app.app_context():
            answer = run_preflight(db, PreflightIn(story="PROJ-1", agent="coder"), app.config["SETTINGS"],
                                   current_policy(app))
    finally:
        done.set()
        thread.join()
    assert answer["decision"] == "allow"
