"""Voiding a wrong event: append a correction (who, when, why) that every total, rollup and report honours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.ledger import events as hooks
from bot.ledger import rollups
from bot.ledger.days import counted, team_zone
from bot.ledger.tables import Story, UsageEvent, UsageVoid


class VoidError(ValueError):
    """The event is unknown or already voided; `code` is not_found or already_voided."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Voided:
    void: UsageVoid
    event: UsageEvent
    changes: list[hooks.StoryChange]


def void_event(session: Session, event_id: str, by: str, reason: str, warn_threshold: Decimal,
               zone=None) -> Voided:
    """Take EVENT_ID out of every total (the event row stays in the ledger; the void is its audit)."""
    from bot.ledger.totals import apply_totals

    event = session.scalar(select(UsageEvent).where(UsageEvent.event_id == event_id).with_for_update())
    if event is None:
        raise VoidError("not_found", f"no event {event_id!r} in the ledger")
    # The unique event_id makes a concurrent second void fail instead of subtracting twice.
    if session.scalar(select(UsageVoid.id).where(UsageVoid.event_id == event_id)) is not None:
        raise VoidError("already_voided", f"event {event_id!r} is already voided")
    record = UsageVoid(event_id=event_id, voided_by=by, voided_at=utcnow(), reason=reason)
    session.add(record)
    session.flush()
    row = {column.name: getattr(event, column.name) for column in UsageEvent.__table__.c}
    day_zone = team_zone(zone, session)
    changes = apply_totals(session, [row], warn_threshold, day_zone, sign=-1)
    rollups.apply(session, [row], zone=day_zone, sign=-1)
    if event.story_key:
        _refresh_span(session, event.story_key)
    hooks.emit(hooks.SPEND_CHANGED, session, changes)
    return Voided(record, event, changes)


def _refresh_span(session: Session, key: str) -> None:
    """First and last event of the story among the events that still count (the void may have been either)."""
    first, last = session.execute(select(func.min(UsageEvent.occurred_at), func.max(UsageEvent.occurred_at))
                                  .where(UsageEvent.story_key == key, counted())).one()
    story = session.get(Story, key)
    if story is not None:
        story.first_event_at, story.last_event_at = first, last
