"""The outbox: every call to Jira, GitHub or Slack is a row written in the caller's transaction, sent later.

Public API (used by every integration):
    enqueue(session, kind, payload, coalesce_key=None, delay=None) -> OutboxRow
    @sender(kind, integration="jira")  registers `fn(payload: dict, ctx: SendContext) -> dict | None`
    register_integration("jira", is_configured)  an integration without credentials runs in dry-run
    SendContext.dry_run / ctx.record(method, url, json)   dry-run: record the request instead of sending
    RetryableError(message, retry_after=None) / PermanentError(message)   what a sender raises on failure
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.models import OutboxRow


class RetryableError(Exception):
    """The far side may accept this later (5xx, 429, timeout). `retry_after` is in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help (400/401/403/404): the row goes dead at once with this message."""


@dataclass
class SendContext:
    """What a sender gets besides its payload."""

    settings: object
    dry_run: bool
    now: datetime
    recorded: list[dict] = field(default_factory=list)

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


def sender(kind: str, integration: str) -> Callable[[Sender], Sender]:
    """Register the function that sends rows of `kind`; `integration` (jira|github|slack) decides dry-run."""

    def register(fn: Sender) -> Sender:
        SENDERS[kind] = Registration(kind, integration, fn)
        return fn

    return register


def enqueue(session: Session, kind: str, payload: dict, coalesce_key: str | None = None,
            delay: timedelta | None = None) -> OutboxRow:
    """Add a row in the caller's transaction. A pending row with the same coalesce_key gets the new
    payload instead (latest wins) and keeps its due time, so a burst becomes one send."""
    now = utcnow()
    if coalesce_key is not None:
        pending = session.scalar(
            select(OutboxRow).where(OutboxRow.coalesce_key == coalesce_key, OutboxRow.state == "pending")
            .order_by(OutboxRow.id).limit(1).with_for_update())
        if pending is not None:
            pending.payload = payload
            pending.kind = kind
            return pending
    row = OutboxRow(kind=kind, coalesce_key=coalesce_key, payload=payload, state="pending", attempts=0,
                    next_attempt_at=now + (delay or timedelta(0)), created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row
