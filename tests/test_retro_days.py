"""The retro counts the team's days (BUDGETBOT_TIMEZONE), as the rollups and the digest do: a sprint entered by
dates holds those days in the team's calendar, and back-to-back Jira sprints share no day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from scrum_support import ingest_events
from sqlalchemy import select

from bot.app_pricer import get_pricer
from bot.ledger.ingest import set_budget
from bot.ledger.sprints import team_days
from bot.ledger.tables import Sprint, StoryDay
from bot.reports.retro.period import sprint_period
from bot.reports.retro.report import build

LA = ZoneInfo("America/Los_Angeles")
WARN = Decimal("0.8")


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "timezone": "America/Los_Angeles"}


def at(text: str) -> str:
    """A Los Angeles wall-clock time as the RFC 3339 moment an agent sends."""
    return datetime.fromisoformat(text).replace(tzinfo=LA).isoformat()


def usage(event_id: str, when: str, story: str = "P-1", input_tokens: int = 1_000) -> dict:
    return {"event_id": event_id, "story": story, "occurred_at": at(when), "model": "gpt-4o", "agent": "coder",
            "input_tokens": input_tokens, "output_tokens": 0, "cost_usd": "0.01"}


def retro(app, db, sprint: str) -> dict:
    with app.app_context(), db.session_factory() as session:
        return build(session, sprint_period(session, sprint), pricer=get_pricer(), warn_threshold=WARN)


def test_a_sprint_by_dates_holds_the_teams_days_up_to_midnight(app, db, cli):
    assert cli("sprint", "add", "S1", "--start", "2026-03-02", "--end", "2026-03-13").exit_code == 0
    with app.app_context(), db.transaction() as session:
        set_budget(session, "P-1", 1_000, None, WARN)
    ingest_events(app, db, [
        usage("eve", "2026-03-01T23:30"),  # 07:30 UTC on 03-02: the team's day before the sprint
        usage("first", "2026-03-02T00:10", input_tokens=2_000),
        usage("last", "2026-03-13T23:50", input_tokens=8_000),  # 06:50 UTC on 03-14: still the sprint's last day
        usage("after", "2026-03-14T00:10"),
    ])

    report = retro(app, db, "S1")

    assert report["headline"]["events"] == 2 and report["headline"]["tokens"] == 10_000
    over = report["overruns"]["stories"][0]
    # Input per call on the team's days; the lifetime breakdown counts all four calls.
    assert [(d["day"], d["avg_input_tokens"]) for d in over["input_per_call"]] == [
        ("2026-03-01", 1_000), ("2026-03-02", 2_000), ("2026-03-13", 8_000), ("2026-03-14", 1_000)]
    with db.session_factory() as session:  # the days the digest's rollup holds them on
        days = {row.day: row.events for row in session.scalars(select(StoryDay))}
    assert days == {date(2026, 3, 1): 1, date(2026, 3, 2): 1, date(2026, 3, 13): 1, date(2026, 3, 14): 1}


def test_back_to_back_jira_sprints_count_each_day_once(app, db):
    starts = ["2026-03-02T09:00", "2026-03-16T09:00", "2026-03-30T09:00"]
    with db.transaction() as session:
        for n, (start, end) in enumerate(pairwise(starts), start=1):
            session.add(Sprint(name=f"J{n}", state="closed", jira_sprint_id=n,
                               start_at=datetime.fromisoformat(at(start)).astimezone(UTC),
                               end_at=datetime.fromisoformat(at(end)).astimezone(UTC)))
    ingest_events(app, db, [
        usage("j1-first-day", "2026-03-02T10:00"),
        usage("before-j2-starts", "2026-03-16T07:00"),  # J2's first day, before its start time
        usage("j2", "2026-03-20T10:00"),
    ])

    trend = retro(app, db, "J2")["trend"]

    assert [(t["label"], t["events"]) for t in trend] == [("J1", 1), ("J2", 2)]


@pytest.mark.parametrize(("start", "end", "zone", "days"), [
    # Typed dates (UTC midnights) are the team's days as typed, even 13 hours east of UTC.
    ("2026-03-02T00:00Z", "2026-03-14T00:00Z", "Pacific/Auckland", ("2026-03-02", "2026-03-13")),
    ("2026-03-02T00:00Z", "2026-03-14T00:00Z", "America/Los_Angeles", ("2026-03-02", "2026-03-13")),
    # Times of day: the days whose noon is inside [start, end).
    ("2026-03-02T08:00Z", "2026-03-16T08:00Z", "UTC", ("2026-03-02", "2026-03-15")),
    ("2026-03-02T12:00Z", "2026-03-16T12:00Z", "UTC", ("2026-03-02", "2026-03-15")),
    ("2026-03-02T12:01Z", "2026-03-16T12:01Z", "UTC", ("2026-03-03", "2026-03-16")),
    ("2026-03-02T17:00Z", "2026-03-16T16:00Z", "America/Los_Angeles", ("2026-03-02", "2026-03-15")),
])
def test_team_days_of_a_period(start, end, zone, days):
    first, last = team_days(datetime.fromisoformat(start), datetime.fromisoformat(end), ZoneInfo(zone))

    assert (first.isoformat(), last.isoformat()) == days


def test_long_names_in_every_dimension_are_recorded_and_shown(app, client, auth, db):
    # Up to ~4 KB of dimensions together: more than one PostgreSQL index entry holds (the rollup keys a hash).
    rng = random.Random(3)
    wide = lambda n: "".join(chr(rng.randrange(0x1F300, 0x1F5FF)) for _ in range(n))  # noqa: E731
    team, cost_center, agent, model = wide(256), wide(256), wide(200), wide(200)
    body = {"event_id": "wide", "story": "P-1", "occurred_at": "2026-03-03T12:00:00Z", "model": model,
            "agent": agent, "provider": wide(100), "input_tokens": 10, "output_tokens": 5,
            "attributes": {"team": team, "cost_center": cost_center}}
    answer = client.post("/api/v1/usage", json=body, headers=auth)
    assert answer.status_code == 200, answer.json
    with db.transaction() as session:
        session.add(Sprint(name="S", start_at=datetime(2026, 3, 2, tzinfo=UTC),
                           end_at=datetime(2026, 3, 14, tzinfo=UTC)))

    showback = retro(app, db, "S")["showback"]

    assert [row["name"] for row in showback["team"]] == [team]
    assert [row["name"] for row in showback["cost_center"]] == [cost_center]
    assert [row["name"] for row in showback["agent"]] == [agent]
    assert [row["tokens"] for row in showback["model"]] == [15]
