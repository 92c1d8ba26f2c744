"""When to try again: backoff with jitter, and reading Retry-After / rate-limit headers of Jira, GitHub and Slack."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.db import utcnow

# GitHub asks for at least a minute when a secondary rate limit answer carries no header saying how long.
GITHUB_SECONDARY_LIMIT_WAIT = 60.0
PERMANENT_STATUSES = {400: "bad request", 401: "unauthorized: check the credentials",
                      403: "forbidden: check the token's permissions", 404: "not found", 405: "method not allowed",
                      410: "gone", 413: "request too large", 422: "unprocessable: the far side rejected the content"}


def backoff_delay(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failure: base * 2^(attempts-1), capped, with "equal jitter"
    (half fixed, half random) so a burst of failing rows does not retry in lockstep, yet never retries early."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + ceiling / 2 * rand()


def retry_after_from(status: int, headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds the far side asked us to wait, from its answer's status and headers; None when it did not say.

    Reads `Retry-After` (seconds or an HTTP date; Jira, Slack, GitHub secondary limits), GitHub's
    `x-ratelimit-remaining: 0` + `x-ratelimit-reset` (epoch seconds), and Jira's `X-RateLimit-Reset` (ISO time).
    A GitHub 403/429 rate-limit answer without any of them means "wait a minute".
    """
    now = now or utcnow()
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    retry_after = _seconds_or_date(lower.get("retry-after"), now)
    if retry_after is not None:
        return retry_after
    if lower.get("x-ratelimit-remaining") == "0" and lower.get("x-ratelimit-reset"):
        reset = _epoch_or_iso(lower["x-ratelimit-reset"], now)
        if reset is not None:
            return reset
    if status == 429 and lower.get("x-ratelimit-reset"):
        reset = _epoch_or_iso(lower["x-ratelimit-reset"], now)
        if reset is not None:
            return reset
    if status in (403, 429) and lower.get("x-ratelimit-remaining") == "0":
        return GITHUB_SECONDARY_LIMIT_WAIT
    return None


def error_from_response(status: int, headers: Mapping[str, str] | None, message: str = "",
                        now: datetime | None = None) -> Exception:
    """The error a sender should raise for an unsuccessful HTTP answer: `raise error_from_response(...)`.

    429, 408, 409, 5xx and GitHub's rate-limited 403 are RetryableError (with retry_after when the far side
    said); other 4xx are PermanentError whose message says what a person should check.
    """
    from bot.outbox.errors import PermanentError, RetryableError

    lower = {k.lower(): v for k, v in (headers or {}).items()}
    wait = retry_after_from(status, lower, now)
    detail = f"HTTP {status}" + (f": {message.strip()[:500]}" if message and message.strip() else "")
    rate_limited = status == 429 or (status == 403 and (wait is not None or "rate limit" in message.lower()))
    if rate_limited or status in (408, 409, 425) or status >= 500:
        if status == 403 and wait is None:
            wait = GITHUB_SECONDARY_LIMIT_WAIT
        scope = _scope(lower)
        reason = lower.get("ratelimit-reason")
        return RetryableError(detail + (f" ({reason})" if reason else ""), retry_after=wait, scope=scope)
    hint = PERMANENT_STATUSES.get(status, "rejected")
    return PermanentError(f"{detail} ({hint})")


def _scope(lower: dict[str, str]) -> str:
    """What a limit covers, so only that waits (DESIGN: back off only what is limited).

    Jira names it in RateLimit-Reason: a per-issue write limit is the row's own key, a burst limit is one
    endpoint (our closest proxy: the row's kind), a quota is the whole app. GitHub's primary limit
    (`x-ratelimit-remaining: 0`) covers the whole installation. A 503 or anything else: the row's key.
    """
    reason = lower.get("ratelimit-reason", lower.get("x-beta-ratelimit-reason", "")).strip().lower()
    if reason:
        if reason.startswith("jira-quota"):
            return "integration"
        return "kind" if reason == "jira-burst-based" else "key"
    return "integration" if lower.get("x-ratelimit-remaining") == "0" else "key"


def _seconds_or_date(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _epoch_or_iso(value: str, now: datetime) -> float | None:
    try:
        return max(float(value) - now.timestamp(), 0.0)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
