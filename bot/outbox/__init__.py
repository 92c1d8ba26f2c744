"""The outbox: every call to Jira, GitHub or Slack is a row written in the caller's transaction, sent later.

Public API (used by every integration):
    enqueue(session, kind, payload, coalesce_key=None, delay=None) -> OutboxRow
    @sender(kind, integration="jira")  registers `fn(payload: dict, ctx: SendContext) -> dict | None`
    register_integration("jira", is_configured)  an integration without credentials runs in dry-run
    SendContext.dry_run / ctx.record(method, url, json)   dry-run: record the request instead of sending
    RetryableError(message, retry_after=None, scope="key", rate_limited=False) / PermanentError(message)
HTTP answers become those errors in bot.integrations.http (one reading of Retry-After and rate-limit headers).
The worker (`bot.outbox.worker`) claims, sends, retries and dead-letters; `budgetbot worker` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.outbox.retry import backoff_delay
from bot.outbox.rows import insert_row
from bot.outbox.tables import OutboxRow

__all__ = [
    "INTEGRATIONS",
    "KNOWN_INTEGRATIONS",
    "SENDERS",
    "OutboxRow",
    "PermanentError",
    "RetryableError",
    "SendContext",
    "backoff_delay",
    "dry_run_integrations",
    "enqueue",
    "is_dry_run",
    "register_integration",
    "sender",
]

# What a RetryableError's wait applies to: the row's coalesce key only (default), every pending row of the
# same kind (a per-endpoint burst limit), or every pending row of the integration (a quota, GitHub's limit).
SCOPES = ("key", "kind", "integration")
KNOWN_INTEGRATIONS = ("github", "jira", "slack")


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


@dataclass
class SendContext:
    """What a sender gets besides its payload."""

    settings: object
    dry_run: bool
    now: datetime
    recorded: list[dict] = field(default_factory=list)
    row_id: int | None = None
    attempt: int = 1  # 1 on the first try
    # The app's Database, for a sender that keeps its own state (e.g. the id of the comment it created):
    # `with ctx.db.transaction() as session: ...`. No transaction is open while a sender runs.
    db: object = None

    def record(self, method: str, url: str, json: object = None) -> None:
        """In dry-run, note the exact request that would have been sent."""
        self.recorded.append({"method": method, "url": url, "json": json})


Sender = Callable[[dict, SendContext], "dict | None"]


@dataclass(frozen=True)
class Registration:
    kind: str
    integration: str
    send: Sender


SENDERS: dict[str, Registration] = {}
# integration name -> is_configured(settings): an unconfigured integration's senders run in dry-run.
INTEGRATIONS: dict[str, Callable[[object], bool]] = {}


def register_integration(name: str, is_configured: Callable[[object], bool]) -> None:
    INTEGRATIONS[name] = is_configured


def is_dry_run(settings, integration: str) -> bool:
    configured = INTEGRATIONS.get(integration)
    return bool(settings.dry_run) or configured is None or not configured(settings)


def dry_run_integrations(settings) -> list[str]:
    """The integrations (known or registered) whose senders would only record their requests."""
    return [name for name in sorted(set(KNOWN_INTEGRATIONS) | INTEGRATIONS.keys()) if is_dry_run(settings, name)]


def sender(kind: str, integration: str) -> Callable[[Sender], Sender]:
    """Register the function that sends rows of `kind`; `integration` (jira|github|slack) decides dry-run."""

    def register(fn: Sender) -> Sender:
        SENDERS[kind] = Registration(kind, integration, fn)
        return fn

    return register


def enqueue(session: Session, kind: str, payload: dict, coalesce_key: str | None = None,
            delay: timedelta | None = None, now: datetime | None = None) -> OutboxRow:
    """Add a row in the caller's transaction. A pending row with the same coalesce_key gets the new
    payload instead (latest wins) and keeps its due time, so a burst becomes one send. A row with that
    key already being sent is left alone: the new row waits behind it."""
    now = now or utcnow()
    values = {"kind": kind, "coalesce_key": coalesce_key, "payload": payload, "state": "pending", "attempts": 0,
              "next_attempt_at": now + (delay or timedelta(0)), "created_at": now, "updated_at": now}
    return insert_row(session, values)


def init_app(app) -> None:
    from bot.outbox.admin import health_detail
    from bot.web.health import DETAILS

    DETAILS["outbox"] = health_detail
