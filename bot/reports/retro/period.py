"""Report periods: a named sprint (Jira's or one entered by dates) or a --from/--to range, and the ones before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ledger.sprints import SprintError, day_bounds, day_start, find, team_days
from bot.ledger.tables import Sprint

MAX_TREND = 6


class PeriodError(ValueError):
    """The sprint or dates asked for cannot be reported on; the message says what to do."""


@dataclass(frozen=True)
class Window:
    """The team days a period's spend is read for (the rollups' days), and the UTC moments they span."""

    first: date
    last: date
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC. `sprint` is the sprint's name when the period is one."""

    label: str
    start: datetime
    end: datetime
    sprint: str | None = None
    board_id: int | None = None  # a Jira sprint's board: its trend compares with that board's sprints only

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def window(self, zone: ZoneInfo) -> Window:
        """Its team days (see bot.ledger.sprints.team_days): spend is counted by the day it happened on."""
        first, last = team_days(self.start, self.end, zone)
        return Window(first, last, *day_bounds(first, last, zone))


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """`2026-03-02` (a whole day: an end date is inclusive) or an ISO datetime (naive means UTC)."""
    try:
        return day_start(text, end=end)
    except SprintError as exc:
        raise PeriodError(str(exc)) from None


def date_range(start_text: str, end_text: str) -> Period:
    start, end = parse_moment(start_text), parse_moment(end_text, end=True)
    if end <= start:
        raise PeriodError(f"--to {end_text} is before --from {start_text}")
    return Period(f"{start_text} to {end_text}", start, end)


def sprint_period(session: Session, name: str) -> Period:
    sprint = find(session, name)
    if sprint is None:
        known = session.scalars(select(Sprint.name).order_by(Sprint.start_at.desc()).limit(10)).all()
        hint = f" Known sprints: {', '.join(known)}." if known else ""
        raise PeriodError(f"no sprint named {name!r}.{hint} Add one with `budgetbot sprint add NAME --start "
                          "DATE --end DATE`, or report on dates with --from/--to.")
    if sprint.start_at is None or sprint.end_at is None:
        raise PeriodError(f"sprint {name!r} has no start and end dates yet; use --from/--to")
    return Period(sprint.name, sprint.start_at, sprint.end_at, sprint.name, sprint.board_id)


def previous_periods(session: Session, period: Period, limit: int = MAX_TREND) -> list[Period]:
    """Up to `limit` earlier sprints (oldest first); for a plain date range with no earlier sprints,
    the equal-length windows before it (the caller drops leading windows that hold no events)."""
    stmt = select(Sprint).where(Sprint.start_at.is_not(None), Sprint.end_at.is_not(None),
                                Sprint.start_at < period.start, Sprint.name != (period.sprint or ""))
    if period.board_id is not None:
        stmt = stmt.where(Sprint.board_id == period.board_id)
    sprints = session.scalars(stmt.order_by(Sprint.start_at.desc()).limit(limit)).all()
    if sprints or period.sprint is not None:
        # The query leaves undated sprints out; the check narrows the types and drops nothing.
        return [Period(s.name, s.start_at, s.end_at, s.name, s.board_id) for s in reversed(sprints)
                if s.start_at is not None and s.end_at is not None]
    windows = []
    for back in range(limit, 0, -1):
        start = period.start - back * period.length
        end = start + period.length
        windows.append(Period(f"{start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}", start, end))
    return windows
