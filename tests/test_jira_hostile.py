"""POST /webhooks/jira under hostile or odd input: wrong shapes and sizes, odd signatures and identifiers, and
a slow Jira (the webhook never calls Jira: it answers from the field list budgetbot stored)."""

from __future__ import annotations

import pytest
import responses
from jira_support import (
    JIRA,
    calls,
    drain,
    fixture_copy,
    jira_http,
    mock_fields,
    post_webhook,
    settings_overrides,
    store_fields,
)
from sqlalchemy import func, select

from bot.integrations.deliveries import Delivery
from bot.integrations.jira.tables import JiraIssue
from bot.ledger.tables import Story
from bot.outbox.tables import OutboxRow


def story(db, key="TES-14") -> Story | None:
    with db.session_factory() as session:
        return session.get(Story, key)


def count(db, model) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(("field", "value"), [
    ("assignee", "Sample User"),
    ("status", "Done"),
    ("summary", {"text": "v"}),
    ("status", {"name": "Done", "statusCategory": "done"}),
    ("assignee", {"displayName": ["Sample", "User"]}),
])
def test_a_field_of_the_wrong_shape_is_400_naming_it_and_stores_nothing(app, client, db, jira_http, field, value):
    store_fields(app)
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["issue"]["fields"][field] = value

    response = post_webhook(client, payload)

    assert response.status_code == 400, response.json
    assert response.json["errors"][0]["path"].startswith(f"issue.fields.{field}")
    assert story(db) is None and count(db, Delivery) == 0


def test_the_longest_names_jira_allows_are_stored(app, client, db, jira_http):
    store_fields(app)
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["issue"]["fields"]["assignee"]["displayName"] = "D" * 255
    payload["issue"]["fields"]["status"]["name"] = "S" * 255

    response = post_webhook(client, payload)

    assert response.status_code == 200
    assert (story(db).assignee, story(db).jira_status) == ("D" * 255, "S" * 255)


@pytest.mark.parametrize(("path", "value"), [
    ("assignee.displayName", "D" * 256),
    ("status.name", "S" * 256),
    ("summary", "s" * 256),
    ("assignee.accountId", "a" * 256),
])
def test_values_longer_than_jira_allows_are_400(app, client, db, jira_http, path, value):
    store_fields(app)
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    target = payload["issue"]["fields"]
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value

    response = post_webhook(client, payload)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == f"issue.fields.{path}"
    assert story(db) is None


def test_an_issue_id_that_is_not_a_jira_id_is_400(app, client, db, jira_http):
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["issue"]["id"] = "x" * 100

    response = post_webhook(client, payload)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "issue.id"


def test_a_non_ascii_signature_is_401(client, db, jira_http):
    payload = fixture_copy("jira__issue_updated__custom_field.json")

    response = post_webhook(client, payload, signature="sha256=" + "é" * 64)

    assert response.status_code == 401 and response.json["error"] == "bad_signature"
    assert story(db) is None


def test_identifiers_sharing_a_long_prefix_are_two_deliveries(app, client, db, jira_http):
    store_fields(app)
    prefix = "x" * 200
    first = fixture_copy("jira__issue_updated__custom_field.json")
    first["changelog"]["items"][0]["toString"] = "10k"
    second = fixture_copy("jira__issue_updated__custom_field.json")
    second["changelog"]["items"][0]["toString"] = "20k"

    post_webhook(client, first, identifier=prefix + "-1")
    response = post_webhook(client, second, identifier=prefix + "-2")
    again = post_webhook(client, second, identifier=prefix + "-2")

    assert response.json["result"] == "budget_changed" and story(db).budget_tokens == 20_000
    assert again.json["result"] == "duplicate"


def test_the_webhook_never_calls_jira_and_refreshes_the_field_list_off_the_request(app, client, db):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as jira:
        # Jira is slow: any request the webhook made inline would hang Jira's own webhook delivery.
        jira.get(f"{JIRA}/rest/api/3/field", body=ConnectionError("Jira is too slow to answer"))
        payload = fixture_copy("jira__issue_updated__custom_field.json")

        response = post_webhook(client, payload, identifier="cold")

        assert response.status_code == 200 and len(jira.calls) == 0
        # Without a stored field list the changelog is matched by the configured name, and a refresh is queued.
        with db.session_factory() as session:
            assert [r.kind for r in session.scalars(select(OutboxRow))] == ["jira.fields"]
        assert story(db).summary == "v" and story(db).budget_tokens is None

    with responses.RequestsMock(assert_all_requests_are_fired=False) as jira:
        mock_fields(jira)
        assert drain(app) == 1
        assert [c.request.url for c in jira.calls] == [f"{JIRA}/rest/api/3/field"]

    again = post_webhook(client, fixture_copy("jira__issue_updated__custom_field.json"), identifier="warm")
    assert again.json["result"] == "budget_changed" and story(db).budget_tokens == 12
    with db.session_factory() as session:  # the stored list is fresh: no second refresh
        assert [r.state for r in session.scalars(select(OutboxRow))] == ["done"]


def test_a_signed_body_with_a_nested_sprint_of_the_wrong_type_is_not_a_500(app, client, db, jira_http):
    store_fields(app)
    payload = fixture_copy("jira__issue_created__with_custom_fields.json")
    payload["issue"]["fields"]["customfield_10020"] = 42  # the site's sprint field: a list of sprints in Jira

    response = post_webhook(client, payload)

    assert response.status_code == 200  # the sprint is not recorded; the rest is
    assert story(db, "KAN-3").sprint is None and story(db, "KAN-3").summary


def test_a_nul_in_a_stored_name_is_400_not_a_database_error(app, client, db, jira_http):
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["issue"]["fields"]["summary"] = "v\x00"

    response = post_webhook(client, payload)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "issue.fields.summary"


def test_a_body_nested_20000_deep_is_400(client, jira_http):
    body = ("[" * 20_000 + "]" * 20_000).encode()
    from jira_support import sign

    response = client.post("/webhooks/jira", data=body, headers={
        "X-Hub-Signature": sign(body), "Content-Type": "application/json"})

    assert response.status_code == 400 and response.json["error"] == "malformed_json"
