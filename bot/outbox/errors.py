"""What a sender raises: the far side may accept it later (RetryableError, with a scope), or never."""

from __future__ import annotations

# What a RetryableError's wait applies to: the row's coalesce key only (default), every pending row of the
# same kind (a per-endpoint burst limit), or every pending row of the integration (a quota, GitHub's limit).
SCOPES = ("key", "kind", "integration")


class RetryableError(Exception):
    """The far side may accept this later (5xx, 429, timeout). `retry_after` is in seconds, if it said;
    `scope` says what the wait covers: "key" (this row), "kind", or "integration"; `rate_limited`: the far
    side limited us, which is not a failure of the row (it does not count towards dead-lettering)."""

    def __init__(self, message: str, retry_after: float | None = None, scope: str = "key",
                 rate_limited: bool = False) -> None:
        super().__init__(message)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
        self.retry_after = retry_after
        self.scope = scope
        self.rate_limited = rate_limited


class PermanentError(Exception):
    """Retrying cannot help (400/401/403/404): the row goes dead at once with this message."""
