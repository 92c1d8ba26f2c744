"""Which story an exported call is charged to: resource attribute, branch, the run's earlier events, or none."""

from __future__ import annotations

import pytest
from otel_support import (
    CLAUDE_RESOURCE,
    claude_api_request,
    export_logs,
    log_batch,
    served,
)
from sqlalchemy import select

from bot.ledger.tables import UsageEvent


@pytest.fixture
def token(auth) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


def stories(db) -> dict[str, str | None]:
    with db.session_factory() as session:
        return dict(session.execute(select(UsageEvent.event_id, UsageEvent.story_key)).all())


def send(app, token, records, resource):
    with served(app) as url:
        responses = export_logs(url, token, log_batch(records, resource)).responses
    assert [r.status_code for r in responses] == [200]


def test_story_from_resource_attribute_wins_over_branch(app, db, token):
    send(app, token, [claude_api_request(1)],
         {**CLAUDE_RESOURCE, "jira.issue.key": "PROJ-1", "vcs.ref.head.name": "feature/PROJ-2-login"})
    assert stories(db) == {"claude_code:req_sess-1_0001": "PROJ-1"}


def test_story_from_record_attribute(app, db, token):
    send(app, token, [claude_api_request(1, **{"jira.issue.key": "abc-12"})], CLAUDE_RESOURCE)
    assert stories(db) == {"claude_code:req_sess-1_0001": "ABC-12"}


@pytest.mark.parametrize("attribute", ["vcs.ref.head.name", "vcs.repository.ref.name", "git.branch"])
def test_story_from_a_branch_attribute(app, db, token, attribute):
    send(app, token, [claude_api_request(1)], {**CLAUDE_RESOURCE, attribute: "feature/proj-55-fix-login"})
    assert stories(db) == {"claude_code:req_sess-1_0001": "PROJ-55"}


def test_story_from_an_earlier_event_of_the_same_run(app, db, token):
    send(app, token, [claude_api_request(1, session="run-a")], {**CLAUDE_RESOURCE, "jira.issue.key": "PROJ-5"})
    # A later export of the same session without the attribute (e.g. another process of the run).
    send(app, token, [claude_api_request(2, session="run-a"), claude_api_request(3, session="run-b")],
         CLAUDE_RESOURCE)
    assert stories(db) == {"claude_code:req_run-a_0001": "PROJ-5", "claude_code:req_run-a_0002": "PROJ-5",
                           "claude_code:req_run-b_0003": None}  # unattributed is stored, never dropped


def test_story_from_another_event_of_the_run_in_the_same_export(app, db, token):
    send(app, token, [claude_api_request(1, session="run-c"),
                      claude_api_request(2, session="run-c", **{"jira.issue.key": "PROJ-6"})], CLAUDE_RESOURCE)
    assert set(stories(db).values()) == {"PROJ-6"}


def test_reexport_after_the_run_got_a_story_is_still_a_duplicate(app, db, token):
    first = [claude_api_request(1, session="run-d")]
    send(app, token, first, CLAUDE_RESOURCE)
    send(app, token, [claude_api_request(2, session="run-d", **{"jira.issue.key": "PROJ-7"})], CLAUDE_RESOURCE)
    send(app, token, first, CLAUDE_RESOURCE)  # its content would now attribute differently: still counts once
    assert stories(db) == {"claude_code:req_run-d_0001": None, "claude_code:req_run-d_0002": "PROJ-7"}


def test_a_record_attribute_wins_over_the_resource(app, db, token):
    send(app, token, [claude_api_request(1, **{"team.id": "record-team"}), claude_api_request(2)],
         {**CLAUDE_RESOURCE, "team": "resource-team", "cost_center": "cc-9"})
    with db.session_factory() as session:
        found = {r.event_id: r.attributes for r in session.scalars(select(UsageEvent))}
    assert found["claude_code:req_sess-1_0001"]["team"] == "record-team"
    assert found["claude_code:req_sess-1_0002"]["team"] == "resource-team"
    assert {a["cost_center"] for a in found.values()} == {"cc-9"}


class TestConfiguredNames:
    """Attribute names come from settings (BUDGETBOT_OTEL_*)."""

    @pytest.fixture
    def settings_overrides(self, db_url):
        return {"database_url": db_url, "otel_story_attribute": "story", "otel_team_attributes": "squad",
                "otel_branch_attributes": "branch", "jira_projects": "PROJ"}


    def test_attribute_names_are_settings(self, app, db, token):
        send(app, token, [claude_api_request(1)], {**CLAUDE_RESOURCE, "story": "PROJ-70", "squad": "core",
                                                   "cost_center": "cc-1", "project": "checkout"})
        send(app, token, [claude_api_request(2, session="s2")], {**CLAUDE_RESOURCE, "branch": "OTHER-1/PROJ-71"})
        with db.session_factory() as session:
            found = {r.event_id: (r.story_key, r.attributes) for r in session.scalars(select(UsageEvent))}
        assert found["claude_code:req_sess-1_0001"] == ("PROJ-70", {
            "client_cost_usd": "0.0123", "cost_center": "cc-1", "project": "checkout", "source": "otel:claude_code",
            "team": "core"})
        assert found["claude_code:req_s2_0002"][0] == "PROJ-71"  # only keys of BUDGETBOT_JIRA_PROJECTS count


    def test_long_attribute_values_are_bounded(self, app, db, token):
        send(app, token, [claude_api_request(1)], {**CLAUDE_RESOURCE, "squad": "x" * 1000})
        with db.session_factory() as session:
            [row] = session.scalars(select(UsageEvent))
        assert len(row.attributes["team"]) == 256
