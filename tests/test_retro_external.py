"""The retro reads other components' tables when they exist (PR checks, overrides, alerts) and copes when not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import JSON, BigInteger, Column, Date, Integer, MetaData, String, Table, Text, insert

from bot.db import UTCDateTime
from bot.pricing import Pricer
from bot.retro.external import alerts, pr_checks
from bot.retro.period import Period, date_range
from bot.retro.report import build

# Just the columns the retro reads, named as the GitHub and scrum integrations name them.
OTHERS = MetaData()
PULLS = Table("github_pull_requests", OTHERS, Column("id", Integer, primary_key=True), Column("repo_id", BigInteger),
              Column("head_sha", String(64)))
LINKS = Table("github_pull_request_stories", OTHERS, Column("pull_request_id", Integer, primary_key=True),
              Column("story_key", String(64), primary_key=True))
CHECKS = Table("github_check_runs", OTHERS, Column("id", Integer, primary_key=True), Column("repo_id", BigInteger),
               Column("head_sha", String(64)), Column("conclusion", String(20)), Column("posted_at", UTCDateTime()))
OVERRIDES = Table("github_overrides", OTHERS, Column("id", Integer, primary_key=True),
                  Column("pull_request_id", Integer), Column("approved_by", String(200)),
                  Column("approved_at", UTCDateTime()), Column("revoked_at", UTCDateTime()))
ALERTS = Table("scrum_alerts", OTHERS, Column("id", Integer, primary_key=True), Column("rule", String(40)),
               Column("subject", String(300)), Column("day", Date), Column("story_key", String(64)),
               Column("message", Text), Column("details", JSON), Column("created_at", UTCDateTime()))


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def other_tables(db):
    OTHERS.create_all(db.engine)
    yield
    OTHERS.drop_all(db.engine)  # PostgreSQL keeps its schema between tests


def test_pr_check_and_override_per_story(db, other_tables):
    with db.transaction() as session:
        session.execute(insert(PULLS), [{"id": 1, "repo_id": 9, "head_sha": "old"},
                                        {"id": 2, "repo_id": 9, "head_sha": "new"},
                                        {"id": 3, "repo_id": 9, "head_sha": "x"}])
        session.execute(insert(LINKS), [{"pull_request_id": 1, "story_key": "A-1"},
                                        {"pull_request_id": 2, "story_key": "A-1"},
                                        {"pull_request_id": 3, "story_key": "A-2"}])
        session.execute(insert(CHECKS), [
            {"repo_id": 9, "head_sha": "old", "conclusion": "failure", "posted_at": at(2)},
            {"repo_id": 9, "head_sha": "new", "conclusion": "success", "posted_at": at(3)},
            {"repo_id": 9, "head_sha": "x", "conclusion": "failure", "posted_at": at(3)}])
        session.execute(insert(OVERRIDES), [
            {"pull_request_id": 3, "approved_by": "carol", "approved_at": at(4), "revoked_at": None},
            {"pull_request_id": 1, "approved_by": "mallory", "approved_at": at(2), "revoked_at": at(3)}])

    with db.session_factory() as session:
        found = pr_checks(session, ["A-1", "A-2", "A-3"])

    assert found["A-1"].conclusion == "success" and found["A-1"].override_by is None  # revoked: not standing
    assert (found["A-2"].conclusion, found["A-2"].override_by, found["A-2"].override_at) == (
        "failure", "carol", "2026-03-04T12:00:00Z")
    assert "A-3" not in found  # no PR: the report says "unknown"


def test_pr_checks_are_unknown_without_the_github_tables(db):
    with db.session_factory() as session:
        assert pr_checks(session, ["A-1"]) == {}


def test_alerts_raised_in_the_period_newest_first(db, other_tables):
    with db.transaction() as session:
        session.execute(insert(ALERTS), [
            {"rule": "daily_spike", "subject": "org", "day": date(2026, 3, 3), "message": "2.4x the 7-day average",
             "details": {}, "created_at": at(3)},
            {"rule": "run_cost", "subject": "run:r9", "day": date(2026, 3, 5), "message": "run r9 cost $1.40",
             "details": {}, "created_at": at(5)},
            {"rule": "run_cost", "subject": "run:r1", "day": date(2026, 2, 1), "message": "before", "details": {},
             "created_at": datetime(2026, 2, 1, tzinfo=UTC)}])

    with db.session_factory() as session:
        found = alerts(session, date_range("2026-03-02", "2026-03-13"))
        report = build(session, date_range("2026-03-02", "2026-03-13"), pricer=Pricer(),
                       warn_threshold=Decimal("0.8"))

    assert [(a.rule, a.subject, a.message, a.at) for a in found] == [
        ("run_cost", "run:r9", "run r9 cost $1.40", "2026-03-05T12:00:00Z"),
        ("daily_spike", "org", "2.4x the 7-day average", "2026-03-03T12:00:00Z")]
    assert report["anomalies"]["available"] is True and len(report["anomalies"]["alerts"]) == 2


def test_no_alerts_table_means_no_anomaly_data(db):
    with db.session_factory() as session:
        assert alerts(session, Period("x", at(1), at(9))) is None
