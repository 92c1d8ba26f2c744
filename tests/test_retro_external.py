"""The retro reads other components' tables when they exist (PR checks, overrides, alerts) and copes when not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import insert

from bot.integrations.github.tables import GitHubCheckRun, GitHubOverride, GitHubPullRequest, GitHubPullRequestStory
from bot.ledger.pricing import Pricer
from bot.reports.retro.external import alerts, pr_checks
from bot.reports.retro.period import date_range
from bot.reports.retro.report import build
from bot.reports.scrum.tables import Alert


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


PULLS, LINKS = GitHubPullRequest.__table__, GitHubPullRequestStory.__table__
CHECKS, OVERRIDES, ALERTS = GitHubCheckRun.__table__, GitHubOverride.__table__, Alert.__table__
RUN = {"check_run_id": 1, "title": "t"}
APPROVAL = {"source": "label", "head_sha": "x", "stories": {}}


def pull(id_: int, sha: str) -> dict:
    return {"id": id_, "repo_id": 9, "repo_full_name": "acme/app", "number": id_, "head_sha": sha,
            "title": f"PR {id_}", "state": "open", "merged": False, "labels": [], "story_keys": []}


def test_pr_check_and_override_per_story(db):
    with db.transaction() as session:
        session.execute(insert(PULLS), [pull(1, "old"), pull(2, "new"), pull(3, "x")])
        session.execute(insert(LINKS), [{"pull_request_id": 1, "story_key": "A-1"},
                                        {"pull_request_id": 2, "story_key": "A-1"},
                                        {"pull_request_id": 3, "story_key": "A-2"}])
        session.execute(insert(CHECKS), [
            {"repo_id": 9, "head_sha": "old", "conclusion": "failure", "posted_at": at(2), **RUN},
            {"repo_id": 9, "head_sha": "new", "conclusion": "success", "posted_at": at(3), **RUN},
            {"repo_id": 9, "head_sha": "x", "conclusion": "failure", "posted_at": at(3), **RUN}])
        session.execute(insert(OVERRIDES), [
            {"pull_request_id": 3, "approved_by": "carol", "approved_at": at(4), "revoked_at": None, **APPROVAL},
            {"pull_request_id": 1, "approved_by": "mallory", "approved_at": at(2), "revoked_at": at(3), **APPROVAL}])

    with db.session_factory() as session:
        found = pr_checks(session, ["A-1", "A-2", "A-3"])

    assert found["A-1"].conclusion == "success" and found["A-1"].override_by is None  # revoked: not standing
    assert (found["A-2"].conclusion, found["A-2"].override_by, found["A-2"].override_at) == (
        "failure", "carol", "2026-03-04T12:00:00Z")
    assert "A-3" not in found  # no PR: the report says "unknown"


def test_pr_checks_are_unknown_for_stories_without_a_pull_request(db):
    with db.session_factory() as session:
        assert pr_checks(session, ["A-1"]) == {}


def test_alerts_raised_in_the_period_newest_first(db):
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
