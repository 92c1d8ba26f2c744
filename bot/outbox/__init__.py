"""The outbox: every call to Jira, GitHub or Slack is a row written in the caller's transaction, sent later.

Public API (used by every integration):
    enqueue(session, kind, payload, coalesce_key=None, delay=None) -> OutboxRow
    senders = SenderSet("jira"); @senders.sender("jira.spend")  declares `fn(payload, ctx) -> dict | None`;
        the integration registers it on its app: registry.add_integration("jira", is_configured, senders)
        (an integration without credentials runs in dry-run)
    SendContext.dry_run / ctx.record(method, url, json)   dry-run: record the request instead of sending
    RetryableError(message, retry_after=None, scope="key") / PermanentError(message)   what a sender raises
    retry_after_from(status, headers, now) / error_from_response(status, headers, message)   for HTTP answers
The worker (`bot.outbox.worker`) claims, sends, retries and dead-letters; `budgetbot worker` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.components import Component
from bot.config import Settings
from bot.db import Database, utcnow
from bot.outbox.retry import backoff_delay, error_from_response, retry_after_from
from bot.outbox.rows import insert_row
from bot.outbox.tables import OutboxRow

__all__ = [
    "OutboxRow",
    "PermanentError",
    "RetryableError",
    "SendContext",
    "SenderSet",
    "backoff_delay",
    "component",
    "enqueue",
    "error_from_response",
    "retry_after_from",
]

# What a RetryableError's wait applies to: the row's coalesce key only (default), every pending row of the
# same kind (a per-endpoint burst limit), or every pending row of the integration (a quota, GitHub's limit).
SCOPES = ("key", "kind", "integration")


class RetryableError(Exception):
    """The far side may accept this later (5xx, 429, timeout). `retry_after` is in seconds, if it said;
    `scope` says what the wait covers: "key" (this row), "kind", or "integration"."""

    def __init__(self, message: str, retry_after: float | None = None, scope: str = "key") -> None:
        super().__init__(message)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
        self.retry_after = retry_after
        self.scope = scope


class PermanentError(Exception):
    """Retrying cannot help (400/401/403/404): the row goes dead at once with this message."""


@dataclass
class SendContext:
    """What a sender gets besides its payload."""

    settings: Settings
    dry_run: bool
    now: datetime
    recorded: list[dict] = field(default_factory=list)
    row_id: int | None = None
    attempt: int = 1  # 1 on the first try
    # The app's Database, for a sender that keeps its own state (e.g. the id of the comment it created):
    # `with ctx.db.transaction() as session: ...`. No transaction is open while a sender runs.
    db: Database | None = None

    def record(self, method: str, url: str, json: object = None) -> None:
        """In dry-run, note the exact request that would have been sent."""
        self.recorded.append({"method": method, "url": url, "json": json})


Sender = Callable[[dict, SendContext], "dict | None"]


class SenderSet:
    """The outbox senders of one integration, declared like a Flask blueprint (at module level, holding
    nothing of any app) and registered on an app with `registry.add_integration(name, is_configured, senders)`."""

    def __init__(self, integration: str) -> None:
        self.integration = integration
        self.kinds: dict[str, Sender] = {}

    def sender(self, kind: str) -> Callable[[Sender], Sender]:
        """Declare the function that sends rows of `kind`: `fn(payload, ctx) -> dict | None`."""

        def declare(fn: Sender) -> Sender:
            self.kinds[kind] = fn
            return fn

        return declare


def enqueue(session: Session, kind: str, payload: dict, coalesce_key: str | None = None,
            delay: timedelta | None = None, now: datetime | None = None) -> OutboxRow:
    """Add a row in the caller's transaction. A pending row with the same coalesce_key gets the new
    payload instead (latest wins) and keeps its due time, so a burst becomes one send. A row with that
    key already being sent is left alone: the new row waits behind it."""
    now = now or utcnow()
    values = {"kind": kind, "coalesce_key": coalesce_key, "payload": payload, "state": "pending", "attempts": 0,
              "next_attempt_at": now + (delay or timedelta(0)), "created_at": now, "updated_at": now}
    return insert_row(session, values)


def _init_app(app, registry) -> None:
    from bot.outbox.admin import health_detail
    from bot.processes.supervisor import budgetbot_argv

    registry.health["outbox"] = health_detail
    registry.processes["worker"] = lambda options: budgetbot_argv("worker")


def _commands():
    from bot.outbox.cli import outbox, run, worker

    return [worker, outbox, run]


component = Component("outbox", _init_app, _commands)
