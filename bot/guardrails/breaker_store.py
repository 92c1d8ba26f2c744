"""Kill switches as data: trip (once per scope and target), clear with who and why, list — shared by CLI and API."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.guardrails.tables import Breaker
from bot.ledger.keys import InvalidStoryKey, normalize_key

SCOPES = ("all", "agent", "story", "run")


class BreakerError(ValueError):
    """A bad scope/target/reason (`field` names it), or no such breaker."""

    def __init__(self, message: str, field: str = "target") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Tripped:
    breaker: Breaker
    created: bool  # False: that breaker was already tripped, and is returned as it was


def target_of(scope: str, target: str | None) -> str:
    """The stored target of a scope: '' for all, the normalized key for a story."""
    if scope not in SCOPES:
        raise BreakerError(f"scope must be one of {', '.join(SCOPES)}", "scope")
    target = (target or "").strip()
    if scope == "all":
        if target:
            raise BreakerError("`all` takes no target")
        return ""
    if not target:
        raise BreakerError(f"`{scope}` needs a target (the {scope} to stop)")
    if len(target) > 200:
        raise BreakerError("a target is at most 200 characters")
    if scope == "story":
        try:
            return normalize_key(target)
        except InvalidStoryKey as exc:
            raise BreakerError(str(exc)) from None
    return target


def active(session: Session, scope: str, target: str) -> list[Breaker]:
    return list(session.scalars(select(Breaker).where(
        Breaker.scope == scope, Breaker.target == target, Breaker.cleared_at.is_(None)).order_by(Breaker.id)))


def trip(session: Session, scope: str, target: str | None, reason: str, by: str | None) -> Tripped:
    """Trip the breaker on scope/target; tripping one that is already tripped keeps the one breaker."""
    target = target_of(scope, target)
    if not reason.strip():
        raise BreakerError("a reason is required (it is shown to the agent)", "reason")
    existing = active(session, scope, target)
    if existing:
        return Tripped(existing[0], False)
    breaker = Breaker(scope=scope, target=target, reason=reason.strip(), tripped_by=by, tripped_at=utcnow())
    try:
        with session.begin_nested():  # a savepoint: losing the race below must not undo the caller's transaction
            session.add(breaker)
    except IntegrityError:
        # Another trip of this breaker committed between the check above and this insert: the unique index on
        # active breakers refused the second row, and the one that won is the breaker.
        won = active(session, scope, target)
        if not won:
            raise
        return Tripped(won[0], False)
    return Tripped(breaker, True)


def clear(session: Session, scope: str, target: str | None, by: str | None) -> list[Breaker]:
    """Clear the tripped breaker(s) on scope/target; BreakerError when none is tripped."""
    target = target_of(scope, target)
    found = active(session, scope, target)
    if not found:
        raise BreakerError(f"no tripped breaker on {scope} {target}".strip())
    now = utcnow()
    for breaker in found:
        breaker.cleared_at, breaker.cleared_by = now, by
    return found


def clear_by_id(session: Session, breaker_id: int, by: str | None) -> Breaker:
    """Clear one breaker; clearing an already cleared one changes nothing (DELETE is idempotent)."""
    breaker = session.get(Breaker, breaker_id, with_for_update=True)
    if breaker is None:
        raise BreakerError(f"no breaker {breaker_id}")
    if breaker.cleared_at is None:
        breaker.cleared_at, breaker.cleared_by = utcnow(), by
    return breaker


def listing(session: Session, include_cleared: bool = False) -> list[Breaker]:
    query = select(Breaker).order_by(Breaker.tripped_at, Breaker.id)
    if not include_cleared:
        query = query.where(Breaker.cleared_at.is_(None))
    return list(session.scalars(query))


def as_json(breaker: Breaker) -> dict:
    def iso(value):
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    return {"id": breaker.id, "scope": breaker.scope, "target": breaker.target or None, "label": breaker.label,
            "reason": breaker.reason, "tripped_by": breaker.tripped_by, "tripped_at": iso(breaker.tripped_at),
            "cleared_at": iso(breaker.cleared_at), "cleared_by": breaker.cleared_by,
            "active": breaker.cleared_at is None}
