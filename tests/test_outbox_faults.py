"""A flaky or hostile far side never stalls a batch: bad rate-limit headers, rate limits that are not failures,
and credentials echoed back in an error body that are never stored, listed or logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import responses
from outbox_helpers import HOOK, OTHERTEST, T0, add, row, rows, test_senders

from bot.outbox import RetryableError
from bot.outbox.worker import run_once

CAP = 3600  # the default BUDGETBOT_OUTBOX_BACKOFF_CAP_SECONDS


@pytest.fixture
def settings(app):
    return app.config["SETTINGS"]


@OTHERTEST.sender("test.odd_wait")
def odd_wait(payload: dict, ctx) -> None:
    """A sender that says an absurd wait itself (a bug, or an upstream library passing a header on)."""
    if payload.get("wait") is not None and ctx.attempt == 1:
        raise RetryableError("slow down", retry_after=float(payload["wait"]), scope=payload.get("scope", "key"))


FAR_FUTURE_EPOCH = str(int(T0.timestamp()) + 10**12)


@pytest.mark.parametrize("headers", [
    {"Retry-After": "1e12"},
    {"Retry-After": "nan"},
    {"Retry-After": "inf"},
    {"Retry-After": "-5"},
    {"Retry-After": "soon, maybe"},
    {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": FAR_FUTURE_EPOCH},
    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e400"},
    {"X-RateLimit-Reset": "9999-12-31T23:59:59Z"},
], ids=lambda h: ";".join(f"{k}={v}" for k, v in h.items()))
@responses.activate
def test_a_bad_rate_limit_header_delays_one_row_within_the_cap_and_the_batch_still_records(db, settings, headers):
    responses.post(HOOK, status=429, headers=headers)
    responses.post(HOOK, status=200)
    limited = add(db, payload={"n": 0}, key="a")
    others = [add(db, kind="test.record", payload={"n": n}, key=f"k{n}") for n in (1, 2)]  # another integration

    sent = run_once(db, settings, now=T0)

    assert sent == 2 and [row(db, i).state for i in others] == ["done", "done"]
    held = row(db, limited)
    assert held.state == "pending" and held.lease_owner is None
    assert T0 + timedelta(seconds=1) <= held.next_attempt_at <= T0 + timedelta(seconds=CAP)
    # nothing sits in `sending` waiting for a lease, so nothing is sent twice
    assert run_once(db, settings, now=T0 + timedelta(seconds=0.5)) == 0
    assert len(responses.calls) == 1


@pytest.mark.parametrize("wait", ["nan", "inf", "-inf", "1e300", "-3"])
def test_a_sender_giving_an_absurd_wait_does_not_touch_the_other_rows(db, settings, wait):
    odd = add(db, kind="test.odd_wait", payload={"wait": wait}, key="odd")
    fine = [add(db, kind="test.odd_wait", payload={"n": n}, key=f"ok{n}") for n in range(3)]

    assert run_once(db, settings, now=T0) == 3

    assert [row(db, i).state for i in fine] == ["done"] * 3
    held = row(db, odd)
    assert held.state == "pending"
    assert T0 + timedelta(seconds=1) <= held.next_attempt_at <= T0 + timedelta(seconds=CAP)


def test_a_limit_of_absurd_length_on_a_whole_integration_is_clamped_too(db, settings):
    odd = add(db, kind="test.odd_wait", payload={"wait": "1e15", "scope": "integration"}, key="odd")
    behind = add(db, kind="test.odd_wait", payload={"n": 1}, key="behind")

    assert run_once(db, settings, now=T0) == 0

    assert row(db, behind).state == "pending" and row(db, behind).attempts == 0
    assert run_once(db, settings, now=T0 + timedelta(seconds=CAP + 1)) == 2  # the limit ends at the cap
    assert row(db, behind).state == "done" and row(db, odd).state == "done"


@responses.activate
def test_rate_limit_answers_are_not_failed_attempts(db, settings):
    settings = settings.model_copy(update={"outbox_max_attempts": 3})
    for _ in range(12):
        responses.post(HOOK, status=429, headers={"Retry-After": "5"})
    responses.post(HOOK, status=200)
    row_id = add(db, payload={"n": 1})

    now = T0
    for _ in range(13):
        run_once(db, settings, now=now)
        now = row(db, row_id).next_attempt_at

    done = row(db, row_id)
    assert done.state == "done" and done.attempts == 13  # every try is shown; none of the 429s was a failure
    assert len(responses.calls) == 13


@responses.activate
def test_real_failures_still_dead_letter_after_max_attempts_even_between_rate_limits(db, settings):
    settings = settings.model_copy(update={"outbox_max_attempts": 2})
    for status in (429, 502, 429, 502):
        responses.post(HOOK, status=status, headers={"Retry-After": "5"} if status == 429 else {})
    row_id = add(db, payload={"n": 1})

    now = T0
    for _ in range(4):
        run_once(db, settings, now=now)
        now = max(row(db, row_id).next_attempt_at, now) + timedelta(hours=2)

    dead = row(db, row_id)
    assert dead.state == "dead"
    assert dead.last_error.startswith("gave up after 2 attempts (and 2 rate-limited tries); last error: HTTP 502")


BASIC = "YnVkZ2V0Ym90QGV4YW1wbGUuY29tOmFwaS10MGtlbg=="  # budgetbot@example.com:api-t0ken
ECHOES = [
    f'{{"error": "bad request", "headers": {{"Authorization": "Basic {BASIC}"}}}}',
    "invalid token xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx for this workspace",
    "Bad credentials: token ghs_16C7e42F292c6912E7710c838347Ae178B4a was rejected",
    "request had Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIyOTMxMCJ9.c2lnbmF0dXJl",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEF is not allowed",
]
SECRETS = [BASIC, "xoxb-1234567890", "ghs_16C7e42F", "eyJhbGciOiJSUzI1NiJ9", "github_pat_11ABCDEFG"]


@pytest.mark.parametrize("echo", ECHOES)
@responses.activate
def test_credentials_echoed_in_an_error_body_are_never_stored_listed_or_logged(db, settings, cli, caplog, echo):
    responses.post(HOOK, status=400, body=echo)
    responses.post(HOOK, status=502, body=echo)
    dead, retried = add(db, payload={"n": 1}, key="a"), add(db, payload={"n": 2}, key="b")

    with caplog.at_level(logging.INFO):
        run_once(db, settings, now=T0)

    stored = [row(db, dead).last_error, row(db, retried).last_error]
    assert "HTTP 400" in stored[0] and "HTTP 502" in stored[1]
    shown = cli("outbox", "list").output + cli("outbox", "show", str(dead)).output
    for secret in SECRETS:
        assert all(secret not in text for text in stored), stored
        assert secret not in shown and secret not in caplog.text
    assert "***" in stored[0]


def test_an_old_row_stored_with_a_credential_is_shown_scrubbed(db, cli):
    row_id = add(db, payload={"n": 1})
    with db.transaction() as session:
        stored = session.get(type(rows(db)[0]), row_id)
        stored.state, stored.last_error = "dead", f"HTTP 401: Authorization: Basic {BASIC}"

    shown = cli("outbox", "list").output + cli("outbox", "show", str(row_id)).output

    assert BASIC not in shown and "HTTP 401" in shown
