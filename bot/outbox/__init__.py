"""The outbox: every call to Jira, GitHub or Slack is a row written in the caller's transaction, sent later.

Public API (used by every integration):
    enqueue(session, kind, payload, coalesce_key=None, delay=None) -> OutboxRow
    enqueue_many(session, [Outgoing(kind, payload, coalesce_key, delay), ...])   the same, one statement
    senders = SenderSet("jira"); @senders.sender("jira.spend")  declares `fn(payload, ctx) -> dict | None`;
        the integration registers it on its app: registry.add_integration("jira", is_configured, senders)
        (an integration without credentials runs in dry-run)
    SendContext.dry_run / ctx.record(method, url, json)   dry-run: record the request instead of sending
    RetryableError(message, retry_after=None, scope="key", rate_limited=False) / PermanentError(message)
HTTP answers become those errors in bot.integrations.http (one reading of Retry-After and rate-limit headers).
The worker (`bot.outbox.worker`) claims, sends, retries and dead-letters; `budgetbot worker` runs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.components import Component
from bot.outbox.errors import PermanentError, RetryableError
from bot.outbox.retry import backoff_delay
from bot.outbox.sending import SendContext, SenderSet

# The table and the database side load with the first enqueue, not with this package: `budgetbot --help` imports
# it to reach the outbox's commands (bot.outbox.cli).
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.outbox.tables import OutboxRow

__all__ = [
    "Outgoing",
    "PermanentError",
    "RetryableError",
    "SendContext",
    "SenderSet",
    "backoff_delay",
    "component",
    "enqueue",
    "enqueue_many",
]

@dataclass(frozen=True)
class Outgoing:
    """One row for `enqueue_many`: what `enqueue` takes, without the session."""

    kind: str
    payload: dict
    coalesce_key: str | None = None
    delay: timedelta | None = None


def enqueue_many(session: Session, rows: Iterable[Outgoing], now: datetime | None = None,
                 hasten: bool = False) -> list[int]:
    """`enqueue` for many rows in one statement, however many there are (a batch ingest's listeners), with
    the same coalescing: a pending row with the key gets the new kind and payload and keeps its due time; a
    row being sent is left alone. Rows sharing a key fold as consecutive enqueues would: the last payload,
    the first due time. `hasten`: a pending row of the key that was never tried becomes due as early as the
    new one (a change that must not wait behind a refresh interval). Returns the ids written."""
    from bot.db import utcnow
    from bot.outbox.rows import upsert_rows

    now = now or utcnow()
    folded: dict[object, dict] = {}
    for n, row in enumerate(rows):
        due = now + (row.delay or timedelta(0))
        key = row.coalesce_key if row.coalesce_key is not None else n  # keyless rows never fold
        first = folded.get(key)
        if first is not None:
            first.update(kind=row.kind, payload=row.payload,
                         next_attempt_at=min(first["next_attempt_at"], due) if hasten else first["next_attempt_at"])
            continue
        folded[key] = {"kind": row.kind, "coalesce_key": row.coalesce_key, "payload": row.payload,
                       "state": "pending", "attempts": 0, "next_attempt_at": due, "created_at": now,
                       "updated_at": now}
    return upsert_rows(session, list(folded.values()), hasten)


def enqueue(session: Session, kind: str, payload: dict, coalesce_key: str | None = None,
            delay: timedelta | None = None, now: datetime | None = None) -> OutboxRow:
    """Add a row in the caller's transaction. A pending row with the same coalesce_key gets the new
    payload instead (latest wins) and keeps its due time, so a burst becomes one send. A row with that
    key already being sent is left alone: the new row waits behind it."""
    from bot.db import utcnow
    from bot.outbox.rows import insert_row

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
