"""The digest's sprint entered by dates is exactly those days of the team, in any zone (as the retro counts it)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.ledger.sprints import day_start
from bot.reports.scrum.burndown import SprintWindow


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "UTC", "Pacific/Auckland"])
def test_a_sprint_entered_by_dates_has_exactly_those_days_in_every_zone(zone):
    sprint = SprintWindow("S1", day_start("2026-12-01"), day_start("2026-12-14", end=True), ZoneInfo(zone))
    days = sprint.days()
    assert (days[0], days[-1], len(days)) == (date(2026, 12, 1), date(2026, 12, 14), 14)
    assert sprint.day_number(datetime(2026, 12, 1, 20, tzinfo=ZoneInfo(zone))) == 1
    assert sprint.day_number(datetime(2026, 12, 14, 20, tzinfo=ZoneInfo(zone))) == 14
