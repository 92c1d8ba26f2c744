"""`budgetbot outbox list|show|retry|purge`, `budgetbot worker --once`, and the outbox detail of /healthz."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from outbox_helpers import HOOK, T0, add, register_test_senders, row, rows, test_senders

from bot.app import create_app
from bot.db import get_db, utcnow
from bot.outbox.admin import parse_age
from bot.outbox.worker import run_once


@pytest.fixture
def settings(app):
    return app.config["SETTINGS"]


@responses.activate
def test_dead_rows_survive_a_restart_and_retry_dead_redrives_them(db, db_url, settings, cli):
    responses.post(HOOK, status=401, json={"message": "Bad credentials"})
    first, second = add(db, payload={"n": 1}, key="a"), add(db, payload={"n": 2}, key="b")
    run_once(db, settings, now=T0)
    db.dispose()

    restarted = create_app({"database_url": db_url})  # a new process, same database
    register_test_senders(restarted)
    listed = cli("outbox", "list", "--state", "dead").output
    assert f"{first:>6}  dead" in listed and "HTTP 401: " in listed and "check the credentials" in listed

    responses.replace(responses.POST, HOOK, status=200)
    result = cli("outbox", "retry", "--dead")
    assert result.exit_code == 0 and f"re-driven 2 dead row(s): {first}, {second}" in result.output
    assert run_once(get_db(restarted), restarted.config["SETTINGS"]) == 2
    assert [(r.state, r.attempts) for r in rows(db)] == [("done", 1), ("done", 1)]
    get_db(restarted).dispose()


@responses.activate
def test_retry_one_dead_row_by_id(db, settings, cli):
    responses.post(HOOK, status=404)
    dead, other = add(db, key="a"), add(db, key="b")
    run_once(db, settings, now=T0)

    result = cli("outbox", "retry", str(dead))

    assert result.exit_code == 0
    assert (row(db, dead).state, row(db, other).state) == ("pending", "dead")


def test_retry_refuses_rows_that_are_not_dead_or_do_not_exist(db, cli):
    pending = add(db)

    assert "is pending, not dead" in cli("outbox", "retry", str(pending)).output
    assert "no outbox row 999" in cli("outbox", "retry", "999").output
    assert cli("outbox", "retry").exit_code != 0


@responses.activate
def test_retry_dead_leaves_a_dead_row_whose_key_has_a_newer_payload(db, settings, cli):
    responses.post(HOOK, status=400)
    old = add(db, payload={"v": 1}, key="jira-spend:PROJ-1")
    run_once(db, settings, now=T0)
    newer = add(db, payload={"v": 2}, key="jira-spend:PROJ-1")

    output = cli("outbox", "retry", "--dead").output

    assert f"row {old} left dead: row {newer} has the same coalesce key" in output
    assert row(db, old).state == "dead"


def test_purge_deletes_only_sent_rows_older_than_the_age(db, settings, cli):
    old, recent, dead = add(db, kind="test.record", payload={"n": 1}), add(db, kind="test.record", payload={"n": 2}), \
        add(db, kind="nobody.handles.this")
    run_once(db, settings, now=utcnow() - timedelta(days=8))
    with db.transaction() as session:  # the second row was sent yesterday
        session.get(type(row(db, recent)), recent).finished_at = utcnow() - timedelta(days=1)

    result = cli("outbox", "purge", "--done", "--older-than", "7d")

    assert result.exit_code == 0 and "purged 1 sent row(s)" in result.output
    assert [r.id for r in rows(db)] == [recent, dead]
    assert old not in [r.id for r in rows(db)]


def test_purge_needs_done_and_a_valid_age(cli):
    assert "--done" in cli("outbox", "purge").output
    assert "not an age" in cli("outbox", "purge", "--done", "--older-than", "a week").output


def test_list_filters_by_state_and_kind_and_prints_json(db, cli):
    add(db, payload={"n": 1}, key="jira-spend:PROJ-1")
    add(db, kind="test.other", payload={"n": 2})

    listed = cli("outbox", "list", "--kind", "test.other").output
    assert "test.other" in listed and "test.notify" not in listed
    assert cli("outbox", "list", "--state", "dead").output.strip() == "no outbox rows match"
    as_json = json.loads(cli("outbox", "list", "--json").output)
    assert [(r["kind"], r["state"], r["payload"]) for r in as_json] == \
        [("test.other", "pending", {"n": 2}), ("test.notify", "pending", {"n": 1})]


def test_show_prints_one_row(db, cli):
    row_id = add(db, payload={"text": "<b>PROJ-1</b>"})

    shown = json.loads(cli("outbox", "show", str(row_id)).output)

    assert shown["payload"] == {"text": "<b>PROJ-1</b>"} and shown["state"] == "pending"
    assert "no outbox row 42" in cli("outbox", "show", "42").output


def test_worker_once_drains_and_reports(db, cli):
    add(db, kind="test.record", payload={"n": 1})
    add(db, kind="nobody.handles.this")

    result = cli("worker", "--once")

    assert result.exit_code == 0 and "sent 1 row(s); retried 0, dead 1" in result.output


def test_healthz_shows_outbox_depth_and_oldest_pending_age(client, db):
    now = utcnow()
    add(db, payload={"n": 1}, now=now - timedelta(seconds=90))
    add(db, payload={"n": 2}, now=now - timedelta(seconds=10))
    add(db, kind="nobody.handles.this", now=now)
    run_once(db, client.application.config["SETTINGS"], now=now - timedelta(seconds=100))  # nothing due yet

    body = client.get("/healthz").json

    assert body["status"] == "ok"
    outbox = body["outbox"]
    assert (outbox["depth"], outbox["pending"], outbox["dead"]) == (3, 3, 0)
    assert 89 <= outbox["oldest_pending_age_seconds"] <= 120
    assert {"github", "jira", "slack", "nocredentials"} <= set(outbox["dry_run"])  # no credentials in tests
    assert "testhook" not in outbox["dry_run"]


def test_healthz_outbox_empty(client):
    outbox = client.get("/healthz").json["outbox"]

    assert (outbox["depth"], outbox["oldest_pending_age_seconds"]) == (0, None)


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", timedelta(days=7)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)),
    ("90s", timedelta(seconds=90)), ("2w", timedelta(weeks=2)), (" 7D ", timedelta(days=7)),
])
def test_parse_age(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["", "d", "7", "7y", "-1d", "1.5h"])
def test_parse_age_rejects(text):
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)
