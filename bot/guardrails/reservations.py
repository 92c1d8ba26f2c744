"""Reservations: an allowed call with an estimate holds that headroom until its usage event settles it."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.guardrails.judgement import Estimate
from bot.guardrails.shapes import PreflightIn
from bot.guardrails.tables import Reservation
from bot.ledger.tables import Story
from bot.upsert import is_postgres

_PURGE_EVERY = 60.0  # seconds between sweeps of expired rows (they are ignored by the reads anyway)
_last_purge = {"at": 0.0}


def lock_story(session: Session, key: str | None) -> None:
    """Serialize preflights of one story (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE already serializes).

    Held until commit: the next preflight of the story then reads this one's reservation."""
    if key is not None and is_postgres(session):
        session.execute(select(Story.key).where(Story.key == key).with_for_update())


def reserve(session: Session, request: PreflightIn, estimate: Estimate, now: datetime, seconds: float
            ) -> Reservation:
    _purge(session, now)
    reservation = Reservation(id=secrets.token_hex(16), story_key=request.story, agent=request.agent,
                              run_id=request.run_id, tokens=estimate.tokens, nano_usd=estimate.nano_usd,
                              created_at=now, expires_at=now + timedelta(seconds=seconds))
    session.add(reservation)
    return reservation


def release(session: Session, reservation_id: str) -> bool:
    """Give the headroom back (the call was not made); False when it was already settled or expired."""
    result = session.execute(delete(Reservation).where(Reservation.id == reservation_id))
    return bool(getattr(result, "rowcount", 0))


def _purge(session: Session, now: datetime) -> None:
    if time.monotonic() - _last_purge["at"] < _PURGE_EVERY:
        return
    _last_purge["at"] = time.monotonic()
    session.execute(delete(Reservation).where(Reservation.expires_at < now))


def settle(session: Session, rows: list[dict]) -> None:
    """The usage events just recorded settle the reservations they name (their spend is in the ledger now)."""
    settled = sorted({row["reservation_id"] for row in rows if row.get("reservation_id")})
    if settled:
        session.execute(delete(Reservation).where(Reservation.id.in_(settled)))
