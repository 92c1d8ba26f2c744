"""Outbox worker (first cut: drains due rows once, in order; leases, retries and backoff come with issue 4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.db import Database, utcnow
from bot.models import OutboxRow
from bot.outbox import SENDERS, PermanentError, RetryableError, SendContext, is_dry_run


def run_once(db: Database, settings, now: datetime | None = None) -> int:
    """Send every due pending row once. Returns how many rows were sent (or recorded, in dry-run)."""
    now = now or utcnow()
    sent = 0
    with db.transaction() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.state == "pending",
                                                       OutboxRow.next_attempt_at <= now)
                               .order_by(OutboxRow.id)).all()
        for row in rows:
            registration = SENDERS[row.kind]
            ctx = SendContext(settings=settings, dry_run=is_dry_run(settings, registration.integration), now=now)
            row.attempts += 1
            try:
                registration.send(row.payload, ctx)
            except (RetryableError, PermanentError) as exc:
                row.last_error = str(exc)
                row.state = "dead" if isinstance(exc, PermanentError) else "pending"
                continue
            row.state = "done"
            row.dry_run_request = ctx.recorded or None
            sent += 1
    return sent
