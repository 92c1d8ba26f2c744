"""The outbox worker: retries with backoff, Retry-After, dead letters, per-key backoff, leases, dry-run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from outbox_helpers import HOOK, T0, Clock, add, row, rows, test_senders

from bot.outbox.worker import Worker, run_once


@pytest.fixture
def settings(app):
    return app.config["SETTINGS"]


def bodies() -> list[dict]:
    return [json.loads(call.request.body) for call in responses.calls]


@responses.activate
def test_two_503s_then_success_is_sent_once_after_three_attempts_with_backoff(db, settings):
    for status in (503, 503, 200):
        responses.post(HOOK, status=status, json={})
    row_id = add(db, payload={"n": 7})

    assert run_once(db, settings, now=T0) == 0
    first = row(db, row_id)
    assert first.state == "pending" and first.attempts == 1 and "HTTP 503" in first.last_error
    # backoff 10 s base with equal jitter: the second try is due 5..10 s later, and not a moment before
    assert T0 + timedelta(seconds=5) <= first.next_attempt_at <= T0 + timedelta(seconds=10)
    assert run_once(db, settings, now=first.next_attempt_at - timedelta(seconds=1)) == 0
    assert len(responses.calls) == 1

    assert run_once(db, settings, now=first.next_attempt_at) == 0
    second = row(db, row_id)
    wait = second.next_attempt_at - first.next_attempt_at
    assert timedelta(seconds=10) <= wait <= timedelta(seconds=20)  # doubled
    assert run_once(db, settings, now=second.next_attempt_at - timedelta(seconds=1)) == 0

    assert run_once(db, settings, now=second.next_attempt_at) == 1
    done = row(db, row_id)
    assert (done.state, done.attempts, done.last_error) == ("done", 3, None)
    assert done.result == {"status": 200}
    assert len(responses.calls) == 3 and bodies() == [{"n": 7}] * 3


@responses.activate
def test_429_with_retry_after_120_is_not_retried_before_120_seconds(db, settings):
    responses.post(HOOK, status=429, headers={"Retry-After": "120"})
    responses.post(HOOK, status=200)
    row_id = add(db)

    run_once(db, settings, now=T0)
    due = row(db, row_id).next_attempt_at
    assert due >= T0 + timedelta(seconds=120)
    for seconds in (1, 60, 119.9):
        assert run_once(db, settings, now=T0 + timedelta(seconds=seconds)) == 0
    assert len(responses.calls) == 1

    assert run_once(db, settings, now=due) == 1
    assert len(responses.calls) == 2


@responses.activate
def test_retry_after_as_an_http_date_is_honoured(db, settings):
    responses.post(HOOK, status=503, headers={"Retry-After": "Mon, 02 Nov 2026 09:05:00 GMT"})
    row_id = add(db)

    run_once(db, settings, now=T0)

    assert row(db, row_id).next_attempt_at >= T0 + timedelta(minutes=5)


@responses.activate
def test_github_rate_limit_reset_holds_every_row_of_the_integration(db, settings):
    reset = int((T0 + timedelta(minutes=30)).timestamp())
    responses.post(HOOK, status=403, json={"message": "API rate limit exceeded"},
                   headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    responses.post(HOOK.replace("notify", "other"), status=200)
    limited, waiting = add(db, key="a"), add(db, key="b")
    elsewhere = add(db, kind="test.other", key="c")

    run_once(db, settings, now=T0)

    assert len([c for c in responses.calls if c.request.url == HOOK]) == 1  # the second row never tried
    assert row(db, limited).next_attempt_at >= T0 + timedelta(minutes=30)
    assert row(db, waiting).next_attempt_at >= T0 + timedelta(minutes=30)
    assert (row(db, waiting).attempts, row(db, waiting).state) == (0, "pending")
    assert row(db, elsewhere).state == "done"  # another integration keeps flowing


@responses.activate
def test_jira_per_issue_limit_backs_off_only_that_key(db, settings):
    def answer(request):
        if json.loads(request.body)["key"] == "PROJ-1":
            return 429, {"Retry-After": "30", "RateLimit-Reason": "jira-per-issue-on-write"}, "{}"
        return 200, {}, "{}"

    responses.add_callback(responses.POST, HOOK, callback=answer)
    ids = {key: add(db, payload={"key": key}, key=f"jira-spend:{key}") for key in ("PROJ-1", "PROJ-2", "PROJ-3")}

    assert run_once(db, settings, now=T0) == 2

    assert row(db, ids["PROJ-1"]).state == "pending"
    assert row(db, ids["PROJ-1"]).next_attempt_at >= T0 + timedelta(seconds=30)
    assert {row(db, ids[k]).state for k in ("PROJ-2", "PROJ-3")} == {"done"}


@responses.activate
def test_permanent_error_is_dead_at_once_with_a_message_a_person_can_act_on(db, settings):
    responses.post(HOOK, status=404, json={"errorMessages": ["Issue does not exist or you do not have permission"]})
    row_id = add(db)

    run_once(db, settings, now=T0)
    run_once(db, settings, now=T0 + timedelta(days=1))

    dead = row(db, row_id)
    assert (dead.state, dead.attempts) == ("dead", 1)
    assert "HTTP 404" in dead.last_error and "Issue does not exist" in dead.last_error
    assert len(responses.calls) == 1


@responses.activate
def test_row_is_dead_after_max_attempts(app, db, settings):
    responses.post(HOOK, status=502)
    settings = settings.model_copy(update={"outbox_max_attempts": 3})
    row_id = add(db)
    clock = Clock()
    worker = Worker(db, settings, clock=clock)

    for _ in range(5):
        worker.drain(retry_once=True)
        clock.advance(3600)

    dead = row(db, row_id)
    assert (dead.state, dead.attempts) == ("dead", 3)
    assert dead.last_error.startswith("gave up after 3 attempts; last error: HTTP 502")
    assert len(responses.calls) == 3


@responses.activate
def test_backoff_is_capped(db, settings):
    responses.post(HOOK, status=500)
    settings = settings.model_copy(update={"outbox_max_attempts": 50, "outbox_backoff_cap_seconds": 60})
    row_id = add(db)
    clock = Clock()
    worker = Worker(db, settings, clock=clock, rand=lambda: 1.0)

    waits = []
    for _ in range(10):
        worker.drain(retry_once=True)
        due = row(db, row_id).next_attempt_at
        waits.append((due - clock.now).total_seconds())
        clock.now = due

    assert waits[:3] == [10, 20, 40] and set(waits[3:]) == {60}


def test_a_sender_bug_is_retried_not_lost(db, settings):
    # no `responses` here: the HTTP call fails with a connection error, as an unreachable host would
    row_id = add(db)

    run_once(db, settings, now=T0)

    pending = row(db, row_id)
    assert pending.state == "pending" and "ConnectionError" in pending.last_error


def test_a_kind_without_sender_is_dead_with_the_reason(db, settings):
    row_id = add(db, kind="nobody.handles.this")

    run_once(db, settings, now=T0)

    dead = row(db, row_id)
    assert dead.state == "dead" and "no sender registered for kind 'nobody.handles.this'" in dead.last_error


@responses.activate
def test_an_integration_without_credentials_records_the_request_instead_of_sending(db, settings):
    row_id = add(db, kind="test.unconfigured", payload={"text": "PROJ-1 is over budget"})

    assert run_once(db, settings, now=T0) == 1

    done = row(db, row_id)
    assert done.state == "done"
    assert done.dry_run_request == [{"method": "POST", "url": HOOK, "json": {"text": "PROJ-1 is over budget"}}]
    assert len(responses.calls) == 0


class TestDryRunSetting:
    @pytest.fixture
    def settings_overrides(self, db_url):
        return {"database_url": db_url, "dry_run": True}

    @responses.activate
    def test_dry_run_setting_records_even_configured_integrations(self, db, settings, cli):
        add(db, payload={"n": 1})

        run_once(db, settings, now=T0)

        assert len(responses.calls) == 0
        assert rows(db)[0].dry_run_request == [{"method": "POST", "url": HOOK, "json": {"n": 1}}]
        listed = cli("outbox", "list", "--dry-run").output
        assert f"POST {HOOK}" in listed and '"n": 1' in listed
