"""Reconcile: JQL search paged by nextPageToken with only the needed fields; drift fixed both ways; sprints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
from jira_support import BUDGET_ID, JIRA, SPEND_ID, body, calls, drain, field_list, fixture_copy, jira_settings, use
from sqlalchemy import select

from bot.app import create_app
from bot.db import get_db
from bot.guardrails.tables import StoryLabels
from bot.integrations.jira.reconcile import reconcile, run
from bot.integrations.jira.tables import JiraIssue
from bot.ledger.ingest import set_budget
from bot.ledger.tables import Sprint, Story

SEARCH = f"{JIRA}/rest/api/3/search/jql"
WANTED = ["summary", "status", "assignee", "resolutiondate", "labels", BUDGET_ID, SPEND_ID, "customfield_10036",
          "customfield_10020"]
SPRINT_2 = {"id": 72, "self": f"{JIRA}/rest/agile/1.0/sprint/72", "state": "active", "name": "Sprint 2",
            "startDate": "2015-04-21T15:22:00.000+10:00", "endDate": "2015-05-01T01:22:00.000+10:00",
            "originBoardId": 84, "goal": ""}


@pytest.fixture
def settings_overrides(db_url):
    return jira_settings(db_url, jira_projects="KP,ED")


def as_searched(issue: dict, **values) -> dict:
    """A recorded issue as the search returns it: only the requested fields, plus our fields' values."""
    fields = {name: issue["fields"].get(name) for name in WANTED if name in issue["fields"]}
    fields.update({BUDGET_ID: None, SPEND_ID: None, **values})
    return {"id": issue["id"], "key": issue["key"], "self": issue["self"], "fields": fields}


def mock_site(rsps, pages: list[dict]) -> None:
    rsps.get(f"{JIRA}/rest/api/3/field", json=field_list(budget_kind="string"))
    for page in pages:
        rsps.post(SEARCH, json=page)
    rsps.get(f"{JIRA}/rest/agile/1.0/board", json={"values": [{"id": 84, "name": "KP board", "type": "scrum"}],
                                                  "isLast": True, "startAt": 0, "maxResults": 50})
    rsps.get(f"{JIRA}/rest/agile/1.0/board/84/sprint", json={"values": [
        {"id": 37, "self": f"{JIRA}/rest/agile/1.0/sprint/37", "state": "closed", "name": "Sprint 1",
         "startDate": "2015-04-11T15:22:00.000+10:00", "endDate": "2015-04-20T01:22:00.000+10:00",
         "completeDate": "2015-04-20T11:04:00.000+10:00", "originBoardId": 84, "goal": "sprint 1 goal"},
        SPRINT_2], "isLast": True, "startAt": 0, "maxResults": 50})
    rsps.put(f"{JIRA}/rest/api/3/issue/KP-19", status=204)


@responses.activate
def test_reconcile_pages_with_next_page_token_and_fixes_drift_both_ways(app, db):
    kp = as_searched(fixture_copy("api__issue.json"), **{BUDGET_ID: "200k / $5", "customfield_10036": 5,
                                                        "customfield_10020": [SPRINT_2]})
    ed = fixture_copy("api__search_jql.json")
    ed["issues"][0]["fields"][SPEND_ID] = 500  # Jira already shows what the ledger says
    mock_site(responses, [{"issues": [kp], "nextPageToken": "CAEaAggD", "isLast": False}, ed])
    use(app, "KP-19", tokens=1234)
    use(app, "ED-1", tokens=500)

    with app.app_context():
        counts = reconcile(app.config["SETTINGS"], get_db(app))

    searches = calls(responses, "POST", "/rest/api/3/search/jql")
    jql = "project in (KP, ED) AND updated >= -1d ORDER BY key"
    assert [body(c) for c in searches] == [{"jql": jql, "fields": WANTED, "maxResults": 100},
                                           {"jql": jql, "fields": WANTED, "maxResults": 100,
                                            "nextPageToken": "CAEaAggD"}]
    assert counts == {"jql": jql, "issues": 2, "budgets_changed": 1, "spend_queued": 1, "sprints": 2}
    with db.session_factory() as session:
        story = session.get(Story, "KP-19")
        assert (story.budget_tokens, story.budget_nano_usd) == (200_000, 5_000_000_000)
        assert (story.summary, story.jira_status, story.story_points, story.sprint) == ("Test", "Backlog", 5.0,
                                                                                      "Sprint 2")
        assert session.get(JiraIssue, "ED-1").spend_written_tokens == 500
        assert session.get(StoryLabels, "KP-19").labels == ["test"]  # the policy's label overrides read them
        sprints = session.scalars(select(Sprint).order_by(Sprint.jira_sprint_id)).all()
        assert [(s.name, s.state, s.board_id) for s in sprints] == [("Sprint 1", "closed", 84),
                                                                    ("Sprint 2", "active", 84)]
        assert sprints[0].start_at == datetime(2015, 4, 11, 5, 22, tzinfo=UTC)

    drain(app, after_seconds=61)
    puts = calls(responses, "PUT")
    assert [(c.request.url, body(c)) for c in puts] == [(f"{JIRA}/rest/api/3/issue/KP-19",
                                                         {"fields": {SPEND_ID: 1234}})]


@responses.activate
def test_empty_jira_field_clears_only_a_budget_that_came_from_jira(app, db):
    kp = as_searched(fixture_copy("api__issue.json"), **{BUDGET_ID: "300k"})
    mock_site(responses, [{"issues": [kp], "isLast": True}])
    with app.app_context():
        reconcile(app.config["SETTINGS"], get_db(app), jql="key = KP-19")
        with get_db(app).transaction() as session:
            set_budget(session, "ED-9", 1000, None, app.config["SETTINGS"].warn_threshold)  # set by API
        kp["fields"][BUDGET_ID] = None
        ex = as_searched(fixture_copy("api__issue.json"))
        ex["key"] = "ED-9"
        responses.replace(responses.POST, SEARCH, json={"issues": [kp, ex], "isLast": True})
        reconcile(app.config["SETTINGS"], get_db(app), jql="key in (KP-19, ED-9)")

    with db.session_factory() as session:
        assert session.get(Story, "KP-19").budget_tokens is None
        assert session.get(Story, "ED-9").budget_tokens == 1000


@responses.activate
def test_data_center_search_pages_by_start_at(db_url):
    app = create_app(jira_settings(db_url, jira_email=None, jira_api_token=None,
                                   jira_personal_access_token="dc-pat", jira_projects="KP"))
    responses.get(f"{JIRA}/rest/api/2/field", json=field_list())
    issue = as_searched(fixture_copy("api__issue.json"))
    search = f"{JIRA}/rest/api/2/search"
    responses.post(search, json={"startAt": 0, "maxResults": 1, "total": 2, "issues": [issue]})
    responses.post(search, json={"startAt": 1, "maxResults": 1, "total": 2, "issues": [issue]})
    responses.get(f"{JIRA}/rest/agile/1.0/board", json={"values": [], "isLast": True})

    with app.app_context():
        counts = reconcile(app.config["SETTINGS"], get_db(app))

    assert [body(c)["startAt"] for c in calls(responses, "POST")] == [0, 1] and counts["issues"] == 2
    get_db(app).dispose()


@responses.activate
def test_cli_reconcile_and_the_clock_entry_point(cli, db_url):
    mock_site(responses, [{"issues": [], "isLast": True}])
    env = {"BUDGETBOT_JIRA_URL": JIRA, "BUDGETBOT_JIRA_EMAIL": "budgetbot@example.com",
           "BUDGETBOT_JIRA_API_TOKEN": "api-t0ken", "BUDGETBOT_JIRA_PROJECTS": "KP"}

    result = cli("jira", "reconcile", "--jql", "project = KP", env=env)

    assert result.exit_code == 0, result.output
    assert "reconciled 0 issue(s) for 'project = KP'" in result.output and "1 sprint" not in result.output
    assert body(calls(responses, "POST")[0])["jql"] == "project = KP"
    unconfigured = create_app({"database_url": db_url})
    assert run(unconfigured) == {"skipped": "Jira is not configured"}
    get_db(unconfigured).dispose()
