"""The retro reads rollups (issue 14): its figures equal what the ledger says, voided and unpriced events and the
team's days included, and `budgetbot rebuild` finds nothing to correct."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import retro_oracle
from retro_ledger import PRICES
from scrum_support import ingest_events
from sqlalchemy import select

from bot.app_pricer import get_pricer
from bot.ledger.budgets import usd_to_nano
from bot.ledger.ingest import set_budget
from bot.ledger.tables import Sprint, Story
from bot.ledger.voids import void_event
from bot.reports.retro.period import date_range, sprint_period
from bot.reports.retro.report import build
from bot.reports.retro.tables import RetroDay

WARN = Decimal("0.8")
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SPRINTS = {"S0": ("2026-02-16", "2026-03-01"), "S1": ("2026-03-02", "2026-03-15"), "S2": ("2026-03-16", "2026-03-29")}
STORIES = ["A-1", "A-2", "A-3", "A-4", "A-5", "B-1", "B-2"]
ATTRIBUTES = [{"team": "core", "cost_center": "CC1"}, {"team": "web"}, {}, {"team": "core", "cost_center": "CC2"}]


@pytest.fixture(params=["UTC", "America/Los_Angeles", "Pacific/Auckland"])
def zone(request) -> str:
    return request.param


@pytest.fixture
def settings_overrides(db_url, tmp_path, zone):
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    return {"database_url": db_url, "prices_file": str(prices), "timezone": zone}


def team_midnight(day: str, zone: str, hours: float = 0) -> datetime:
    local = datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(zone))
    return (local + timedelta(hours=hours)).astimezone(UTC)


def random_events(zone: str, seed: int = 7) -> list[dict]:
    """A mixed ledger: priced, unpriced and client-priced calls, errors, cache reads and writes, events without a
    story, agent, provider or attributes, runs that cross sprint boundaries, and calls minutes from the team's
    midnight at each sprint's edges (where UTC and team days disagree)."""
    rng = random.Random(seed)
    start = team_midnight("2026-02-14", zone)
    moments = [start + timedelta(seconds=rng.randrange(44 * 86_400)) for _ in range(150)]
    for first, last in SPRINTS.values():
        for day, hours in ((first, 0.2), (first, -0.2), (last, 23.8), (last, 24.2)):
            moments.append(team_midnight(day, zone, hours))
    events = []
    for n, moment in enumerate(sorted(moments)):
        story = rng.choice([*STORIES, None])
        model = rng.choice(["big", "big", "small", "small", "mystery", "Big"])
        inp = rng.randrange(1_000, 60_000)
        event = {"event_id": f"e{n}", "occurred_at": moment.isoformat(), "model": model,
                 "input_tokens": inp, "output_tokens": rng.randrange(0, 8_000),
                 "cache_read_tokens": rng.choice([0, inp // 3]), "cache_write_tokens": rng.choice([0, 0, inp // 5]),
                 "attributes": rng.choice(ATTRIBUTES), "outcome": "error" if rng.random() < 0.15 else "ok"}
        if story:
            event["story"] = story
            event["run_id"] = f"r-{story}-{rng.randrange(3)}"  # a run works on one story
        elif rng.random() < 0.5:
            event["run_id"] = f"r-chat-{rng.randrange(2)}"
        if rng.random() < 0.8:
            event["agent"] = rng.choice(["coder", "reviewer", "triage"])
        if model != "mystery" and rng.random() < 0.7:
            event["provider"] = "acme"
        if rng.random() < 0.1:
            event["cost_usd"] = "0.05"
        events.append(event)
    return events


@pytest.fixture
def ledger(app, db, zone):
    events = random_events(zone)
    ingest_events(app, db, events)
    rng = random.Random(11)
    with app.app_context(), db.transaction() as session:
        for name, (first, last) in SPRINTS.items():
            session.add(Sprint(name=name, start_at=datetime.fromisoformat(first).replace(tzinfo=UTC),
                               end_at=datetime.fromisoformat(last).replace(tzinfo=UTC) + timedelta(days=1)))
        set_budget(session, "A-1", 150_000, None, WARN)
        set_budget(session, "A-2", 60_000, None, WARN)
        set_budget(session, "A-3", None, usd_to_nano(Decimal("0.30")), WARN)
        set_budget(session, "B-1", 90_000, usd_to_nano(Decimal("1.00")), WARN)
        for key in STORIES:
            story = session.get(Story, key)
            story.sprint = rng.choice(list(SPRINTS))
            story.story_points = rng.choice([None, 1, 2, 3])
            story.resolved_at = NOW - timedelta(days=rng.randrange(40)) if rng.random() < 0.6 else None
    # Voids: unpriced calls, errors, events without a story, and every event of one story.
    voided = [e["event_id"] for e in events if e["model"] == "mystery"][:2]
    voided += [e["event_id"] for e in events if e["outcome"] == "error"][:2]
    voided += [e["event_id"] for e in events if "story" not in e][:2]
    voided += [e["event_id"] for e in events if e.get("story") == "B-2"]
    with app.app_context(), db.transaction() as session:
        for event_id in dict.fromkeys(voided):
            void_event(session, event_id, "tester", "wrong", WARN)
    return events, set(voided)


def report(app, db, period_of, project=None):
    with app.app_context(), db.session_factory() as session:
        return build(session, period_of(session), pricer=get_pricer(), warn_threshold=WARN, project=project,
                     economy={"acme": "small"}, now=NOW)


PERIODS = {
    "sprint": lambda session: sprint_period(session, "S2"),
    "first sprint": lambda session: sprint_period(session, "S1"),
    "dates": lambda session: date_range("2026-03-09", "2026-03-22"),
}


@pytest.mark.parametrize("project", [None, "A"])
@pytest.mark.parametrize("period", sorted(PERIODS))
def test_the_retro_from_rollups_equals_the_ledger(app, db, ledger, monkeypatch, period, project):
    from_rollups = report(app, db, PERIODS[period], project)
    retro_oracle.use_ledger(monkeypatch)
    from_ledger = report(app, db, PERIODS[period], project)

    assert from_rollups == from_ledger
    assert from_rollups["headline"]["events"] > 0 and from_rollups["headline"]["unpriced_events"] > 0
    assert from_rollups["overruns"]["stories"] and from_rollups["overruns"]["top_runs"]


def test_voided_events_are_out_of_every_figure(app, db, ledger, monkeypatch):
    whole = lambda session: date_range("2026-02-01", "2026-04-30")  # noqa: E731
    seen = report(app, db, whole)
    with db.session_factory() as session:
        stored = sum(row.events for row in session.scalars(select(RetroDay)))
        counted = sum(story.events for story in session.scalars(select(Story)))

    events, voided = ledger
    kept = [e for e in events if e["event_id"] not in voided]
    assert stored == len(events)  # the rollup keeps every event; its readers take the voids out
    assert seen["headline"]["events"] == len(kept)
    assert seen["headline"]["tokens"] == sum(e["input_tokens"] + e["output_tokens"] for e in kept)
    assert counted == sum(1 for e in kept if "story" in e)
    assert "B-2" not in {s["key"] for s in seen["scorecard"]["stories"] if s["spent"]["events"]}
    retro_oracle.use_ledger(monkeypatch)
    assert report(app, db, whole) == seen


def test_rebuild_finds_the_retro_rollup_as_ingest_left_it(app, db, ledger, cli, zone):
    with db.session_factory() as session:
        before = sorted(tuple(row) for row in session.execute(select(RetroDay.__table__)))
    first = report(app, db, PERIODS["sprint"])

    rebuilt = cli("rebuild", env={"BUDGETBOT_TIMEZONE": zone})

    # (Voiding all of a story's events leaves zero story_days rows, which the ledger's rebuild drops and counts.)
    assert rebuilt.exit_code == 0 and "rebuilt: 0 stories" in rebuilt.output
    assert f"retro_day_rows {len(before)}" in rebuilt.output
    with db.session_factory() as session:
        assert sorted(tuple(row) for row in session.execute(select(RetroDay.__table__))) == before
    assert report(app, db, PERIODS["sprint"]) == first
