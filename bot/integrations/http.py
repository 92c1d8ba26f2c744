"""One HTTP client base for GitHub, Jira and Slack: what an answer means for the outbox, read once, scrubbed.

`read_limit` is the one reader of `Retry-After` and the rate-limit headers; `error_from_response` the one
mapping of an answer to RetryableError (with the wait, what it covers and whether it was a rate limit) or
PermanentError; `HttpClient` a requests session that uses both, so a client subclass only names its
operations and says what its errors mean to a person.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from bot.db import utcnow
from bot.outbox import PermanentError, RetryableError
from bot.outbox.retry import redact

if TYPE_CHECKING:
    import requests

# GitHub asks for at least a minute when a rate-limit answer does not say how long.
RATE_LIMIT_DEFAULT_WAIT = 60.0
RETRYABLE_STATUSES = {408, 409, 425}  # and 429 and every 5xx
HINTS = {400: "bad request", 401: "unauthorized: check the credentials",
         403: "forbidden: check the token's permissions", 404: "not found", 405: "method not allowed",
         410: "gone", 413: "request too large",
         422: "unprocessable: the far side rejected the content"}
MAX_DETAIL = 500


class Unavailable(RetryableError):
    """The far side may take this later: 429, 408/409/425, 5xx, no answer. Knows the HTTP status, if any."""

    def __init__(self, message: str, retry_after: float | None = None, scope: str = "key",
                 rate_limited: bool = False, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after, scope=scope, rate_limited=rate_limited)
        self.status = status
        self.reason = reason  # the limit the far side named (Jira's RateLimit-Reason)


class Rejected(PermanentError):
    """Retrying cannot help; the message says what a person should fix. Knows the HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limit:
    """What an answer said about waiting: seconds (None: not said), what the wait covers, and why."""

    wait: float | None
    scope: str  # "key" (this row), "kind" (the endpoint), "integration"
    rate_limited: bool
    reason: str | None = None


def read_limit(status: int, headers: Mapping[str, str] | None, body: str = "", now: datetime | None = None,
               rate_limit_scope: str = "key") -> Limit:
    """Read `Retry-After` (seconds or HTTP date), `x-ratelimit-remaining`/`-reset` (GitHub: epoch seconds;
    Jira: ISO time) and Jira's `RateLimit-Reason`. Never raises: an unreadable or non-finite value is not a
    wait. `rate_limit_scope` is what a rate limit covers when the answer does not say (per client)."""
    now = now or utcnow()
    lower = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    remaining = lower.get("x-ratelimit-remaining", "").strip()
    wait = _seconds(lower.get("retry-after"), now, epoch=False)
    if wait is None and (remaining == "0" or status == 429):
        wait = _seconds(lower.get("x-ratelimit-reset"), now, epoch=True)
    limited = status == 429 or (status == 403 and (
        remaining == "0" or "retry-after" in lower or "rate limit" in (body or "").lower()))
    if limited and wait is None and (status == 403 or remaining == "0"):
        wait = RATE_LIMIT_DEFAULT_WAIT
    reason = (lower.get("ratelimit-reason") or lower.get("x-beta-ratelimit-reason") or "").strip() or None
    if reason:
        lowered = reason.lower()
        # Jira names its limit: a quota covers the app, a burst limit one endpoint, per-issue writes the issue.
        scope = ("integration" if lowered.startswith("jira-quota")
                 else "kind" if lowered == "jira-burst-based" else "key")
    elif remaining == "0":
        scope = "integration"  # GitHub's primary limit covers the whole installation
    else:
        scope = rate_limit_scope if limited else "key"
    return Limit(wait, scope, limited, reason)


def _seconds(value: str | None, now: datetime, epoch: bool) -> float | None:
    """Seconds from `now` to a header's time: a number (delta-seconds, or epoch seconds when `epoch`), an HTTP
    date or an ISO time. None when unreadable, negative or not finite; a time in the past is 0."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        if number is not None:
            if not math.isfinite(number) or number < 0:
                return None
            return max(number - now.timestamp(), 0.0) if epoch else number
        when = _parse_time(text)
        return None if when is None else max((when - now).total_seconds(), 0.0)
    except (OverflowError, ValueError, TypeError):
        return None


def _parse_time(text: str) -> datetime | None:
    for parse in (parsedate_to_datetime, lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))):
        try:
            when = parse(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return None


def error_from_response(status: int, headers: Mapping[str, str] | None, detail: str = "",
                        now: datetime | None = None, *, service: str = "HTTP", where: str = "",
                        hint: str | None = None, rate_limit_scope: str = "key",
                        secrets: Iterable[str | None] = ()) -> Unavailable | Rejected:
    """The error a sender raises for an unsuccessful answer: `raise error_from_response(...)`.

    429, 408, 409, 425, 5xx and a rate-limited 403 are Unavailable (retryable, with the wait and its scope);
    other statuses are Rejected with `hint` (or a generic one) saying what to check. No credential survives
    in the message: `secrets` (the client's own) and anything shaped like one are masked.
    """
    limit = read_limit(status, headers, detail, now, rate_limit_scope)
    text = f"{service} {status}" + (f" on {where}" if where else "")
    detail = (detail or "").strip()[:MAX_DETAIL]
    if detail:
        text += f": {detail}"
    if limit.rate_limited or status in RETRYABLE_STATUSES or status >= 500:
        if limit.reason:
            text += f" (limit: {limit.reason})"
        elif limit.rate_limited:
            text += " (rate limited)"
        if limit.wait is not None:
            text += f"; retry after {limit.wait:g} s"
        return Unavailable(redact(text, secrets), retry_after=limit.wait, scope=limit.scope,
                           rate_limited=limit.rate_limited, status=status, reason=limit.reason)
    return Rejected(redact(f"{text} ({hint or HINTS.get(status, 'rejected')})", secrets), status)


class HttpClient:
    """A requests session for one external system. Subclasses set `service` and `rate_limit_scope`, pass
    their credentials as `secrets`, and override `detail`/`hint` to say what an error body means."""

    service = "HTTP"
    rate_limit_scope = "key"
    unavailable: type[Unavailable] = Unavailable
    rejected: type[Rejected] = Rejected

    def __init__(self, base_url: str, timeout: float, *, auth: Any = None, headers: Mapping[str, str] | None = None,
                 secrets: Iterable[str | None] = ()) -> None:
        # requests loads when a client is made (by a sender, in the worker), not when an integration registers.
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.secrets = tuple(s for s in secrets if s)
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update(headers or {})

    def url(self, path: str) -> str:
        return path if "://" in path else self.base_url + path

    def send(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        """One request, no retries of its own (the outbox owns them). Raises `unavailable`/`rejected`."""
        import requests  # loaded already: __init__ made the session

        where = f"{method} {path}"
        try:
            response = self.session.request(method, self.url(path), json=json, params=params, headers=headers,
                                            timeout=self.timeout)
        except requests.RequestException as exc:
            raise self.unavailable(redact(f"{self.service} did not answer {where}: {type(exc).__name__}",
                                          self.secrets)) from None
        if response.status_code >= 400:
            raise self.error(response.status_code, response.headers, response.text, where)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """`send`, then the decoded JSON (None for an empty answer). A 2xx that is not JSON is retryable: the
        request may or may not have been applied, and a proxy's error page is often what it is."""
        response = self.send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise self.unavailable(f"{self.service} answered {method} {path} with {response.status_code} and a "
                                   "body that is not JSON", status=response.status_code) from None

    def error(self, status: int, headers: Mapping[str, str] | None, body: str, where: str) -> Exception:
        error = error_from_response(status, headers, self.detail(status, body), service=self.service, where=where,
                                    hint=self.hint(status, body), rate_limit_scope=self.rate_limit_scope,
                                    secrets=self.secrets)
        if isinstance(error, Unavailable):
            return self.unavailable(str(error), retry_after=error.retry_after, scope=error.scope,
                                    rate_limited=error.rate_limited, status=status, reason=error.reason)
        return self.rejected(str(error), status)

    def detail(self, status: int, body: str) -> str:
        """What the far side said, as a sentence (subclasses pick the message out of their JSON)."""
        return body

    def hint(self, status: int, body: str) -> str | None:
        """What a person should check for this status (None: the generic hint)."""
        return None
