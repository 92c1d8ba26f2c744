"""Sprints without Jira: defined by dates, active between them, found by name whatever its case."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.ledger.tables import Sprint, Story

NOON = time(12)


class SprintError(ValueError):
    """A sprint cannot be added, changed or found; the message says what to do."""


def is_active(now: datetime):
    """The SQL condition of an active sprint: Jira says so, or (no Jira state) `now` is between its dates."""
    return or_(Sprint.state == "active",
               and_(Sprint.state.is_(None), Sprint.start_at <= now, Sprint.end_at > now))


def active_sprints(session: Session, now: datetime) -> list[Sprint]:
    return list(session.scalars(select(Sprint).where(is_active(now)).order_by(Sprint.start_at, Sprint.name)))


def find(session: Session, name: str) -> Sprint | None:
    """The sprint called `name`, case and surrounding spaces ignored (people type `sprint 42`)."""
    return session.scalar(select(Sprint).where(func.lower(Sprint.name) == name.strip().lower()))


def state_of(sprint: Sprint, now: datetime) -> str:
    """Jira's state, else the one the dates give (the rule `is_active` puts in SQL)."""
    if sprint.state:
        return sprint.state
    if sprint.start_at is None or sprint.end_at is None or now < sprint.start_at:
        return "future"
    return "active" if now < sprint.end_at else "closed"


def day_start(text: str, option: str = "", *, end: bool = False) -> datetime:
    """`2026-03-02` -> midnight UTC of that day (an end date is inclusive: it ends at the next midnight), or an
    ISO date-time as given (naive means UTC). `option` names what was typed in the error (`--start`)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SprintError(f"{option} {text!r} is not a date (YYYY-MM-DD) or an ISO date-time".lstrip()) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check(session: Session, name: str, start: datetime, end: datetime, start_text: str, end_text: str,
           exclude: int | None = None) -> None:
    if end <= start:
        raise SprintError(f"--end {end_text} is before --start {start_text}")
    overlap = session.scalar(select(Sprint).where(
        Sprint.start_at < end, Sprint.end_at > start, Sprint.id != (exclude or -1)).limit(1))
    if overlap is not None:
        raise SprintError(f"{name!r} would overlap sprint {overlap.name!r} ({overlap.start_at:%Y-%m-%d} to "
                          f"{last_day_of(overlap.end_at or end):%Y-%m-%d}); pick other dates or "
                          "`budgetbot sprint edit` that one")


def add(session: Session, name: str, start_text: str, end_text: str) -> Sprint:
    """Define sprint `name` from its first to its last day (inclusive), refusing a name or dates taken."""
    name = name.strip()
    if not name:
        raise SprintError("a sprint needs a name")
    start, end = day_start(start_text, "--start"), day_start(end_text, "--end", end=True)
    existing = find(session, name)
    if existing is not None:
        raise SprintError(f"a sprint named {existing.name!r} already exists (`budgetbot sprint edit` changes it)")
    _check(session, name, start, end, start_text, end_text)
    # state stays empty: it would go stale for a sprint defined by dates; is_active() derives it.
    sprint = Sprint(name=name, start_at=start, end_at=end)
    session.add(sprint)
    session.flush()
    return sprint


def edit(session: Session, name: str, *, new_name: str | None = None, start_text: str | None = None,
         end_text: str | None = None) -> Sprint:
    sprint = require(session, name)
    start = day_start(start_text, "--start") if start_text else sprint.start_at
    end = day_start(end_text, "--end", end=True) if end_text else sprint.end_at
    renamed = bool(new_name and new_name.strip() and new_name.strip().lower() != sprint.name.lower())
    if renamed and find(session, new_name or "") is not None:
        raise SprintError(f"a sprint named {(new_name or '').strip()!r} already exists")
    if start is not None and end is not None:
        _check(session, new_name or sprint.name, start, end, start_text or f"{start:%Y-%m-%d}",
               end_text or f"{end - timedelta(days=1):%Y-%m-%d}", exclude=sprint.id)
    if new_name and new_name.strip():
        # The stories name their sprint: they follow the rename.
        for story in session.scalars(select(Story).where(Story.sprint == sprint.name)):
            story.sprint = new_name.strip()
        sprint.name = new_name.strip()
    sprint.start_at, sprint.end_at = start, end
    session.flush()
    return sprint


def remove(session: Session, name: str) -> tuple[Sprint, int]:
    """Delete a sprint; its stories keep their budgets and spend but no longer belong to a sprint."""
    sprint = require(session, name)
    stories = list(session.scalars(select(Story).where(Story.sprint == sprint.name)))
    for story in stories:
        story.sprint = None
    session.delete(sprint)
    session.flush()
    return sprint, len(stories)


def require(session: Session, name: str) -> Sprint:
    sprint = find(session, name)
    if sprint is None:
        known = session.scalars(select(Sprint.name).order_by(Sprint.start_at.desc()).limit(10)).all()
        hint = f" Known sprints: {', '.join(known)}." if known else ""
        raise SprintError(f"no sprint named {name!r}.{hint} Add one with "
                          "`budgetbot sprint add NAME --start DATE --end DATE`.")
    return sprint


def team_days(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last of the team's days (the rollups' days) that the period [start, end) covers.

    Dates typed by hand are stored as UTC midnights (`day_start`): they are the team's days as typed, in any
    zone. A period that starts or ends at a time of day (Jira's sprints) holds the team days whose noon falls
    inside it, so back-to-back sprints share no day and each day's spend is counted once."""
    if entered_by_dates(start, end):
        return start.astimezone(UTC).date(), (end.astimezone(UTC) - timedelta(days=1)).date()
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    first = local_start.date() + timedelta(days=0 if local_start.time() <= NOON else 1)
    last = local_end.date() - timedelta(days=0 if local_end.time() > NOON else 1)
    return first, last


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the team days first..last: the team's midnight before the first and after the last."""
    return (datetime.combine(first, time(0), zone).astimezone(UTC),
            datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC))


def entered_by_dates(start: datetime, end: datetime) -> bool:
    """A period typed as dates (`day_start` stores them as UTC midnights), not one with times of day (Jira's)."""
    return _is_utc_midnight(start) and _is_utc_midnight(end)


def _is_utc_midnight(moment: datetime) -> bool:
    return moment.astimezone(UTC).time() == time(0)


def last_day_of(end: datetime) -> date:
    """A sprint's last day: its end is the midnight after it (or, from Jira, a time during it)."""
    return (end - timedelta(microseconds=1)).date()
