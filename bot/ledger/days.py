"""The team's days: every rollup buckets spend by the local day of BUDGETBOT_TIMEZONE, live and rebuilt alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, text
from sqlalchemy.orm import Session

from bot.ledger.tables import UsageEvent, UsageVoid
from bot.upsert import is_postgres

TIMEZONE_KEY = "timezone"


def team_zone(zone: str | ZoneInfo | None = None, session: Session | None = None) -> ZoneInfo:
    """`zone`, else the team's zone the session carries (`session.info["timezone"]`: the app's Database puts
    BUDGETBOT_TIMEZONE there, as it puts the event bus), else UTC. The core never reads settings itself."""
    if isinstance(zone, ZoneInfo):
        return zone
    if zone is None and session is not None:
        zone = session.info.get(TIMEZONE_KEY)
    return ZoneInfo(zone or "UTC")


def team_day(moment: datetime, zone: ZoneInfo) -> date:
    """The local calendar day of `moment` (a naive value is UTC, as the database returns it on SQLite)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def counted():
    """WHERE clause of every ledger read: an event with a void appended no longer counts."""
    return ~exists().where(UsageVoid.event_id == UsageEvent.event_id)


def lock_ledger(session: Session) -> None:
    """Freeze the ledger for a rebuild (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock).

    A rebuild reads the ledger's sums and then overwrites the totals: under READ COMMITTED an insert that
    commits between the two would be lost. SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock every
    INSERT takes, so the LOCK waits for in-flight ingests to commit (their rows are then seen by our next
    statement) and makes new ones wait until the rebuild commits; it also conflicts with itself, so two
    rebuilds run one after the other. Reads (the API, the pages) are not blocked."""
    if is_postgres(session):
        session.execute(text("LOCK TABLE usage_events, usage_voids, story_approvals IN SHARE ROW EXCLUSIVE MODE"))
