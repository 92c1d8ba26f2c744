"""`budgetbot jira check` and `setup`, field resolution by name, and the client's errors and (absent) retries."""

from __future__ import annotations

import pytest
import responses
from jira_support import BUDGET_ID, JIRA, SPEND_ID, body, calls, field_list, fixture_copy

from bot.config import load_settings
from bot.integrations.jira.client import JiraClient, JiraRejected, JiraUnavailable
from bot.integrations.jira.fields import FieldError, field_map, resolve

ENV = {"BUDGETBOT_JIRA_URL": JIRA, "BUDGETBOT_JIRA_EMAIL": "budgetbot@example.com",
       "BUDGETBOT_JIRA_API_TOKEN": "api-t0ken", "BUDGETBOT_JIRA_PROJECTS": "KP",
       "BUDGETBOT_JIRA_WEBHOOK_SECRET": "s", "BUDGETBOT_JIRA_OVER_BUDGET_TRANSITION": "QA Review",
       "BUDGETBOT_JIRA_ESCALATION_USER": "5b10a2844c20165700ede21g"}
PERMISSIONS = {"permissions": {p: {"key": p, "havePermission": True} for p in (
    "BROWSE_PROJECTS", "EDIT_ISSUES", "ADD_COMMENTS", "EDIT_OWN_COMMENTS", "TRANSITION_ISSUES")}}


def settings(**extra):
    return load_settings({"jira_url": JIRA, "jira_email": "b@example.com", "jira_api_token": "t", **extra})


def mock_healthy_site(rsps, editmeta_ids=(BUDGET_ID, SPEND_ID)):
    rsps.get(f"{JIRA}/rest/api/3/myself", json={"accountId": "5b10a2844c20165700ede21g", "displayName": "budgetbot"})
    rsps.get(f"{JIRA}/rest/api/3/field", json=field_list())
    rsps.get(f"{JIRA}/rest/api/3/mypermissions", json=PERMISSIONS)
    rsps.post(f"{JIRA}/rest/api/3/search/jql", json={"issues": [{"id": "10032", "key": "KP-19"}], "isLast": True})
    editmeta = fixture_copy("api__editmeta.json")
    editmeta["fields"].update({field_id: {"name": field_id} for field_id in editmeta_ids})
    rsps.get(f"{JIRA}/rest/api/3/issue/KP-19/editmeta", json=editmeta)
    rsps.get(f"{JIRA}/rest/api/3/issue/KP-19/transitions", json=fixture_copy("api__transitions_v3.json"))
    rsps.get(f"{JIRA}/rest/api/3/user", json={"displayName": "Mia Krystof"})


@responses.activate
def test_check_passes_on_a_healthy_site(cli):
    mock_healthy_site(responses)

    result = cli("jira", "check", env=ENV)

    assert result.exit_code == 0, result.output
    assert f"ok   budget field 'Token Budget' is {BUDGET_ID} (number)" in result.output
    assert "ok   KP-19: transition 'QA Review' is available" in result.output
    assert "escalation user is Mia Krystof" in result.output and "Jira is ready" in result.output
    permissions = calls(responses, "GET", "/rest/api/3/mypermissions")[0].request.url
    assert "projectKey=KP" in permissions and "TRANSITION_ISSUES" in permissions


@responses.activate
def test_check_prints_what_to_fix(cli):
    mock_healthy_site(responses, editmeta_ids=(BUDGET_ID,))  # Token Spend not on the edit screen
    env = {**ENV, "BUDGETBOT_JIRA_OVER_BUDGET_TRANSITION": "Blocked"}
    del env["BUDGETBOT_JIRA_WEBHOOK_SECRET"]

    result = cli("jira", "check", env=env)

    assert result.exit_code == 1
    assert "FIX  KP-19: 'Token Spend' is not on the edit screen" in result.output
    assert "WARN KP-19: no transition 'Blocked' from its status (available: Close Issue, QA Review)" in result.output
    assert "FIX  BUDGETBOT_JIRA_WEBHOOK_SECRET is not set" in result.output
    assert "2 problem(s) to fix" in result.output


@responses.activate
def test_check_with_bad_credentials_says_which_settings(cli):
    responses.get(f"{JIRA}/rest/api/3/myself", status=401, body="")

    result = cli("jira", "check", env=ENV)

    assert result.exit_code == 1 and "BUDGETBOT_JIRA_API_TOKEN" in result.output
    assert "api-t0ken" not in result.output


@responses.activate
def test_setup_creates_only_missing_fields(cli):
    responses.get(f"{JIRA}/rest/api/3/field", json=[f for f in field_list() if f["name"] != "Token Budget"])
    created = responses.post(f"{JIRA}/rest/api/3/field", status=201, json={"id": "customfield_10100"})

    result = cli("jira", "setup", env=ENV)

    assert result.exit_code == 0, result.output
    assert body(created.calls[0]) == {
        "name": "Token Budget", "description": "Token budget of the story: 200k, $5 or 200k / $5 (read by budgetbot)",
        "type": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
        "searcherKey": "com.atlassian.jira.plugin.system.customfieldtypes:textsearcher"}
    assert created.call_count == 1 and f"exists: 'Token Spend' ({SPEND_ID})" in result.output


def test_fields_are_found_by_name_and_problems_are_explained():
    fields = field_list()
    resolved = resolve(fields, settings())
    assert (resolved.budget.id, resolved.spend.id) == (BUDGET_ID, SPEND_ID)
    assert (resolved.story_points.id, resolved.sprint.id) == ("customfield_10036", "customfield_10020")

    with pytest.raises(FieldError, match="Jira has no field named 'Token Spend'"):
        resolve([f for f in fields if f["name"] != "Token Spend"], settings())
    twin = {**fields[-1], "id": "customfield_10999"}
    with pytest.raises(FieldError, match=r"2 Jira fields are named 'Token Spend' \(customfield_10073, "):
        resolve([*fields, twin], settings())
    with pytest.raises(FieldError, match=r"'Team' .* is a any field; Token Spend"):
        resolve(fields, settings(jira_spend_field="Team"))


@responses.activate
def test_client_does_not_retry_by_itself_and_classifies_errors():
    client = JiraClient(settings())
    responses.get(f"{JIRA}/rest/api/3/myself", status=503, headers={"Retry-After": "7"})
    responses.get(f"{JIRA}/rest/api/3/field", status=403, json={"errorMessages": ["You are not an admin."]})

    with pytest.raises(JiraUnavailable) as unavailable:
        client.request("GET", "/rest/api/3/myself")
    with pytest.raises(JiraRejected) as rejected:
        client.request("GET", "/rest/api/3/field")

    assert unavailable.value.retry_after == 7 and unavailable.value.status == 503
    assert len(responses.calls) == 2  # one each: ResilientSession's own retries are off
    assert "You are not an admin." in str(rejected.value) and "budgetbot jira check" in str(rejected.value)


@responses.activate
def test_healthz_shows_a_missing_field_without_asking_jira(app_with_jira):
    client = app_with_jira.test_client()
    assert client.get("/healthz").json["jira"] == {"mode": "ready", "fields": "not looked up yet"}
    responses.get(f"{JIRA}/rest/api/3/field", json=[f for f in field_list() if f["name"] != "Token Budget"])
    with pytest.raises(FieldError):
        field_map(JiraClient(app_with_jira.config["SETTINGS"]), app_with_jira.config["SETTINGS"])

    detail = client.get("/healthz").json["jira"]

    assert detail["fields"].startswith("Jira has no field named 'Token Budget'") and len(responses.calls) == 1


@pytest.fixture
def app_with_jira(db_url):
    from bot.app import create_app
    from bot.db import get_db

    app = create_app({"database_url": db_url, "jira_url": JIRA, "jira_email": "b@example.com", "jira_api_token": "t"})
    yield app
    get_db(app).dispose()
