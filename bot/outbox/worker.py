"""Outbox worker (first cut: drains due rows once, in order; leases, retries and backoff come with issue 4)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from bot.db import Database, utcnow
from bot.models import OutboxRow
from bot.outbox import SENDERS, PermanentError, RetryableError, SendContext, is_dry_run

log = logging.getLogger(__name__)


def run_once(db: Database, settings, now: datetime | None = None) -> int:
    """Send every due pending row once. Returns how many rows were sent (or recorded, in dry-run)."""
    now = now or utcnow()
    # Claim first and send outside that transaction: a sender may open its own (to read the newest state or
    # remember what it created), which on SQLite would wait forever behind a write lock held here.
    with db.transaction() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.state == "pending",
                                                       OutboxRow.next_attempt_at <= now)
                               .order_by(OutboxRow.id)).all()
        claimed = [(row.id, row.kind, row.payload) for row in rows]
        for row in rows:
            row.state = "sending"  # a new enqueue with the same coalesce key now makes a new row
    sent = 0
    for row_id, kind, payload in claimed:
        registration = SENDERS[kind]
        ctx = SendContext(settings=settings, dry_run=is_dry_run(settings, registration.integration), now=now)
        error: Exception | None = None
        try:
            registration.send(payload, ctx)
        except (RetryableError, PermanentError) as exc:
            error = exc
        except Exception as exc:  # a sender bug must not leave the row claimed forever
            log.exception("outbox row %s (%s) failed", row_id, kind)
            error = exc
        with db.transaction() as session:
            row = session.get(OutboxRow, row_id)
            row.attempts += 1
            if error is None:
                row.state = "done"
                row.dry_run_request = ctx.recorded or None
                sent += 1
            else:
                row.last_error = str(error)
                row.state = "dead" if isinstance(error, PermanentError) else "pending"
    return sent
