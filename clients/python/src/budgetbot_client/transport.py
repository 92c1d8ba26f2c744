"""One JSON POST to budgetbot over the standard library's urllib, and how to read the answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from time import time
from typing import Any

USER_AGENT = "budgetbot-client/0.1.0"


class Unreachable(OSError):
    """budgetbot did not answer: connection refused or reset, DNS failure, timeout."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON
    retry_after: float | None  # seconds, when the server sent Retry-After

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status in (408, 429) or self.status >= 500


def post_json(url: str, token: str, payload: Any, timeout: float) -> Reply:
    """POST `payload`; any HTTP status is a Reply, anything that is not an answer raises Unreachable."""
    data = json.dumps(payload, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, _json(response.read()), None)
    except urllib.error.HTTPError as exc:
        with exc:
            body = _json(exc.read())
        return Reply(exc.code, body, parse_retry_after(exc.headers.get("Retry-After")))
    except (TimeoutError, urllib.error.URLError, HTTPException, OSError) as exc:
        # Only the reason is kept: the request (and so the token) never reaches a message.
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{type(reason).__name__}: {reason}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
