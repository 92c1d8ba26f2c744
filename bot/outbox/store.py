"""The outbox's SQL: claim due rows under a lease, renew it, and record each outcome only while we hold it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.db import rowcount, table_of
from bot.outbox.tables import OutboxLimit, OutboxRow
from bot.upsert import dialect_insert

UNSENT = ("pending", "sending")


@dataclass
class Claimed:
    """A row this worker holds the lease on."""

    id: int
    kind: str
    payload: dict
    attempts: int  # including the attempt about to be made
    coalesce_key: str | None
    owner: str
    lease_until: datetime
    rate_limited: int = 0  # earlier tries answered with a rate limit (not failures)

    @property
    def failures(self) -> int:
        """Tries that failed, this one included: what dead-lettering counts."""
        return self.attempts - self.rate_limited


def claim(session: Session, owner: str, now: datetime, lease: timedelta, limit: int,
          skip_kinds: Sequence[str] = (), skip_ids: Collection[int] = frozenset()) -> list[Claimed]:
    """Lease up to `limit` due rows: first sending rows whose lease expired (their worker died), then
    pending rows whose time has come, oldest due first. A row waits while an older row with its coalesce
    key is unsent, so one key's rows go out one at a time, in order. On PostgreSQL, SKIP LOCKED lets
    workers claim side by side without waiting for or taking each other's rows."""
    expired = and_(OutboxRow.state == "sending", OutboxRow.lease_until <= now)
    claimed = _claim(session, expired, OutboxRow.lease_until, owner, now, lease, limit, skip_kinds, skip_ids)
    if len(claimed) < limit:
        # Two statements, not one with OR: this one walks ix_outbox_pending_due and stops after `limit`
        # rows; with the OR, PostgreSQL sorts every due row on each claim.
        due = and_(OutboxRow.state == "pending", OutboxRow.next_attempt_at <= now)
        claimed += _claim(session, due, OutboxRow.next_attempt_at, owner, now, lease, limit - len(claimed),
                          skip_kinds, skip_ids)
    return sorted(claimed, key=lambda c: c.id)


def _claim(session: Session, condition, order, owner: str, now: datetime, lease: timedelta, limit: int,
           skip_kinds, skip_ids) -> list[Claimed]:
    older = aliased(OutboxRow)
    behind_older = exists().where(older.coalesce_key == OutboxRow.coalesce_key, older.id < OutboxRow.id,
                                  older.state.in_(UNSENT))
    candidates = select(OutboxRow.id).where(condition, ~behind_older)
    if skip_kinds:
        candidates = candidates.where(OutboxRow.kind.not_in(list(skip_kinds)))
    if skip_ids:
        candidates = candidates.where(OutboxRow.id.not_in(list(skip_ids)))
    candidates = (candidates.order_by(order, OutboxRow.id).limit(limit)
                  .with_for_update(skip_locked=True, of=OutboxRow))
    stmt = (update(OutboxRow).where(OutboxRow.id.in_(candidates.scalar_subquery()))
            .values(state="sending", lease_until=now + lease, lease_owner=owner,
                    attempts=OutboxRow.attempts + 1, updated_at=now)
            .returning(OutboxRow.id, OutboxRow.kind, OutboxRow.payload, OutboxRow.attempts,
                       OutboxRow.coalesce_key, OutboxRow.rate_limited))
    rows = session.execute(stmt, execution_options={"synchronize_session": False}).all()
    return [Claimed(r.id, r.kind, r.payload, r.attempts, r.coalesce_key, owner, now + lease, r.rate_limited)
            for r in rows]


def renew(session: Session, rows: list[Claimed], now: datetime, lease: timedelta) -> set[int]:
    """Extend the lease of rows still ours; returns the ids we still hold."""
    if not rows:
        return set()
    stmt = (update(OutboxRow)
            .where(OutboxRow.id.in_([r.id for r in rows]), OutboxRow.lease_owner == rows[0].owner,
                   OutboxRow.state == "sending")
            .values(lease_until=now + lease, updated_at=now).returning(OutboxRow.id))
    return set(session.execute(stmt, execution_options={"synchronize_session": False}).scalars())


_TABLE = table_of(OutboxRow)
_DONE = (update(_TABLE)
         .where(_TABLE.c.id == bindparam("b_id"),
                _TABLE.c.lease_owner == bindparam("b_owner"),
                _TABLE.c.state == "sending")
         .values(state="done", lease_until=None, lease_owner=None, last_error=None,
                 dry_run_request=bindparam("b_recorded"), result=bindparam("b_result"),
                 finished_at=bindparam("b_now"), updated_at=bindparam("b_now")))


def mark_done(session: Session, done: list[tuple[Claimed, list | None, dict | None]], now: datetime) -> int:
    """Record sent rows in one round trip; returns how many were still ours."""
    if not done:
        return 0
    params = [{"b_id": row.id, "b_owner": row.owner, "b_recorded": recorded, "b_result": result, "b_now": now}
              for row, recorded, result in done]
    result = session.connection().execute(_DONE, params)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(done)


def mark_dead(session: Session, row: Claimed, error: str, now: datetime) -> bool:
    """Dead: kept with its last error, never retried by itself (`budgetbot outbox retry` re-drives it)."""
    result = session.execute(
        update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.lease_owner == row.owner,
                                OutboxRow.state == "sending")
        .values(state="dead", lease_until=None, lease_owner=None, last_error=error[:4000], finished_at=now,
                updated_at=now), execution_options={"synchronize_session": False})
    return rowcount(result) == 1


def requeue(session: Session, row: Claimed, due: datetime, now: datetime, error: str | None,
            attempted: bool = True, rate_limited: bool = False) -> bool:
    """Put a row we hold back to pending, due at `due` (`attempted=False`: it was released unsent;
    `rate_limited`: the far side limited it, which is counted apart from failures).

    If a newer row with the same key was enqueued meanwhile, its payload is the one that counts: it is
    folded into this row (which keeps the key's attempt count and backoff) and deleted, so a key never
    has two pending rows. Returns False when the lease was no longer ours.
    """
    for _ in range(3):
        try:
            with session.begin_nested():
                return _requeue(session, row, due, now, error, attempted, rate_limited)
        except IntegrityError:
            # A newer row was inserted between our look and our update (PostgreSQL): fold it on the next pass.
            continue
    raise RuntimeError(f"outbox row {row.id}: could not requeue after 3 tries")


def _requeue(session: Session, row: Claimed, due: datetime, now: datetime, error: str | None,
             attempted: bool, rate_limited: bool) -> bool:
    held = session.scalar(select(OutboxRow.id).where(
        OutboxRow.id == row.id, OutboxRow.lease_owner == row.owner, OutboxRow.state == "sending").with_for_update())
    if held is None:
        return False
    values = {"state": "pending", "next_attempt_at": due, "lease_until": None, "lease_owner": None,
              "updated_at": now}
    if error is not None:
        values["last_error"] = error[:4000]
    if not attempted:
        values["attempts"] = OutboxRow.attempts - 1
    if rate_limited:
        values["rate_limited"] = OutboxRow.rate_limited + 1
    if row.coalesce_key is not None:
        newer = session.execute(select(OutboxRow.id, OutboxRow.kind, OutboxRow.payload, OutboxRow.next_attempt_at)
                                .where(OutboxRow.coalesce_key == row.coalesce_key, OutboxRow.state == "pending",
                                       OutboxRow.id != row.id).with_for_update()).first()
        if newer is not None:
            session.execute(delete(OutboxRow).where(OutboxRow.id == newer.id),
                            execution_options={"synchronize_session": False})
            values.update(kind=newer.kind, payload=newer.payload, next_attempt_at=max(due, newer.next_attempt_at))
    session.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(**values),
                    execution_options={"synchronize_session": False})
    return True


def delay_pending(session: Session, kinds: list[str], until: datetime, now: datetime) -> int:
    """A rate limit wider than one key: hold every pending row of these kinds until `until`."""
    if not kinds:
        return 0
    result = session.execute(
        update(OutboxRow).where(OutboxRow.state == "pending", OutboxRow.kind.in_(kinds),
                                OutboxRow.next_attempt_at < until)
        .values(next_attempt_at=until, updated_at=now), execution_options={"synchronize_session": False})
    return rowcount(result)


def active_limits(session: Session, now: datetime) -> dict[str, datetime]:
    """Limits in force: scope ("kind:…" / "integration:…") -> until."""
    return dict(session.execute(select(OutboxLimit.scope, OutboxLimit.until).where(OutboxLimit.until > now)).all())


def hold(session: Session, scopes: list[str], until: datetime, reason: str, now: datetime) -> None:
    """Record a limit over `scopes` until `until` (a later limit already recorded is kept)."""
    for scope in scopes:
        stmt = dialect_insert(session, OutboxLimit).values(scope=scope, until=until, reason=reason[:4000],
                                                           updated_at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=["scope"], set_={
            "until": stmt.excluded.until, "reason": stmt.excluded.reason, "updated_at": stmt.excluded.updated_at},
            where=(OutboxLimit.until < stmt.excluded.until)))
