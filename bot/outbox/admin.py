"""Looking after the outbox: depth for /healthz, listing rows, re-driving dead ones, purging old sent ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.db import rowcount, utcnow
from bot.durations import parse_duration
from bot.outbox.tables import OutboxRow

STATES = ("pending", "sending", "done", "dead")


def health_detail(session: Session, now: datetime | None = None) -> dict:
    """Outbox depth (rows not yet sent), dead rows, and how long the oldest unsent row has waited."""
    now = now or utcnow()
    counts, oldest = {}, None
    for state, count, first in session.execute(  # one query: /healthz is polled
            select(OutboxRow.state, func.count(), func.min(OutboxRow.created_at))
            .where(OutboxRow.state.in_(("pending", "sending", "dead"))).group_by(OutboxRow.state)):
        counts[state] = count
        if state != "dead" and first is not None:
            oldest = first if oldest is None else min(oldest, first)
    detail: dict[str, object] = {
        "depth": counts.get("pending", 0) + counts.get("sending", 0),
        "pending": counts.get("pending", 0),
        "sending": counts.get("sending", 0),
        "dead": counts.get("dead", 0),
        "oldest_pending_age_seconds": None if oldest is None else round(_age(now, oldest), 1),
    }
    if has_app_context():
        from bot.components import registry

        detail["dry_run"] = registry().dry_run_integrations(current_app.config["SETTINGS"])
    return detail


def list_rows(session: Session, state: str | None = None, kind: str | None = None, dry_run: bool = False,
              limit: int = 50) -> list[OutboxRow]:
    """Newest first, filtered by state, kind, and (dry_run) whether the row recorded requests."""
    query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
    if state:
        query = query.where(OutboxRow.state == state)
    if kind:
        query = query.where(OutboxRow.kind == kind)
    if dry_run:
        query = query.where(OutboxRow.dry_run_request.is_not(None))
    return list(session.scalars(query))


@dataclass
class RetryOutcome:
    redriven: list[int] = field(default_factory=list)
    superseded: dict[int, int] = field(default_factory=dict)  # dead row id -> newer row id with its key


def retry_dead(session: Session, ids: list[int] | None = None, now: datetime | None = None) -> RetryOutcome:
    """Make dead rows pending again, due now, with a fresh attempt count (all dead rows when `ids` is None).

    A dead row whose coalesce key has a newer row is not re-driven: the newer payload is the one that
    counts (latest wins), and sending the old one after it would undo it.
    """
    now = now or utcnow()
    query = select(OutboxRow).where(OutboxRow.state == "dead").order_by(OutboxRow.id.desc()).with_for_update()
    if ids is not None:
        query = query.where(OutboxRow.id.in_(ids))
    outcome = RetryOutcome()
    for row in session.scalars(query).all():
        newer = None
        if row.coalesce_key is not None:
            newer = session.scalar(select(func.max(OutboxRow.id)).where(
                OutboxRow.coalesce_key == row.coalesce_key, OutboxRow.id > row.id))
        if newer is not None:
            outcome.superseded[row.id] = newer
            continue
        row.state, row.attempts, row.rate_limited, row.next_attempt_at = "pending", 0, 0, now
        row.lease_until = row.lease_owner = row.finished_at = None
        row.updated_at = now
        session.flush()  # one at a time: the unique index on pending keys sees each change in order
        outcome.redriven.append(row.id)
    return outcome


def purge_done(session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete sent rows finished more than `older_than` ago. Dead rows are never purged."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(delete(OutboxRow).where(OutboxRow.state == "done", OutboxRow.finished_at < cutoff))
    return rowcount(result)


def parse_age(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s`, `2w` -> timedelta; ValueError ("... is not an age ...") otherwise."""
    return parse_duration(text, noun="an age")


def _age(now: datetime, then: datetime) -> float:
    return max((now - then).total_seconds(), 0.0)
