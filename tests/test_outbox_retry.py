"""Reading the far side's answer: Retry-After, rate-limit resets, what is retryable, and backoff (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.integrations.http import error_from_response, read_limit
from bot.outbox import PermanentError, RetryableError, backoff_delay

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "headers", "wait"), [
    (429, {"Retry-After": "120"}, 120),
    (503, {"retry-after": "7"}, 7),
    (429, {"Retry-After": "Mon, 02 Nov 2026 09:02:30 GMT"}, 150),
    (429, {"Retry-After": "Mon, 02 Nov 2026 08:00:00 GMT"}, 0),  # a date in the past: go now
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW.timestamp()) + 900)}, 900),
    (429, {"X-RateLimit-Reset": "2026-11-02T09:10Z"}, 600),  # Jira: ISO time, minutes only
    (403, {"x-ratelimit-remaining": "0"}, 60),  # GitHub without a reset: wait a minute
    (503, {}, None),
    (429, {"Retry-After": "soon"}, None),
])
def test_retry_after_from_headers(status, headers, wait):
    assert read_limit(status, headers, now=NOW).wait == wait


@pytest.mark.parametrize(("status", "headers", "kind", "scope"), [
    (500, {}, RetryableError, "key"),
    (502, {}, RetryableError, "key"),
    (408, {}, RetryableError, "key"),
    (429, {"Retry-After": "5", "RateLimit-Reason": "jira-per-issue-on-write"}, RetryableError, "key"),
    (429, {"Retry-After": "5", "RateLimit-Reason": "jira-burst-based"}, RetryableError, "kind"),
    (429, {"Retry-After": "5", "RateLimit-Reason": "jira-quota-tenant-based"}, RetryableError, "integration"),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1798880400"}, RetryableError, "integration"),
    (429, {"Retry-After": "3"}, RetryableError, "key"),  # Slack
    (400, {}, PermanentError, None),
    (401, {}, PermanentError, None),
    (403, {"x-ratelimit-remaining": "4999"}, PermanentError, None),  # a real permission problem
    (404, {}, PermanentError, None),
    (422, {}, PermanentError, None),
])
def test_error_from_response_classifies_answers(status, headers, kind, scope):
    error = error_from_response(status, headers, "the body", NOW)

    assert isinstance(error, kind)
    assert f"HTTP {status}: the body" in str(error)
    if scope:
        assert error.scope == scope


def test_permanent_errors_say_what_to_check():
    assert "check the credentials" in str(error_from_response(401, {}, ""))
    assert "permissions" in str(error_from_response(403, {}, "Resource not accessible by integration"))


def test_github_secondary_rate_limit_message_without_headers_waits_a_minute():
    error = error_from_response(403, {}, '{"message": "You have exceeded a secondary rate limit"}')

    assert isinstance(error, RetryableError) and error.retry_after == 60


def test_retryable_error_rejects_an_unknown_scope():
    with pytest.raises(ValueError, match="scope must be one of"):
        RetryableError("x", scope="everything")


def test_backoff_doubles_with_equal_jitter_and_is_capped():
    assert [backoff_delay(n, 10, 300, rand=lambda: 1.0) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    assert [backoff_delay(n, 10, 300, rand=lambda: 0.0) for n in range(1, 4)] == [5, 10, 20]
