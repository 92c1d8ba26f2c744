"""Jira labels reach the guardrails: the policy's [labels.NAME] overrides apply to a story by its Jira labels,
as a webhook (or the reconcile, tests/test_jira_reconcile.py) delivers them."""

from __future__ import annotations

import pytest
from jira_support import fixture_copy, jira_http, jira_settings, post_webhook, stored_field_list

from bot.guardrails.tables import StoryLabels

pytestmark = pytest.mark.usefixtures("stored_field_list")


@pytest.fixture
def settings_overrides(db_url, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[run]\nmax_tokens = 50_000\n\n[labels.test-label.run]\nmax_tokens = 100\n")
    return jira_settings(db_url, policy_file=str(policy))


def spend(client, auth, tokens: int) -> None:
    body = {"event_id": "e-1", "story": "TES-41", "agent": "coder", "run_id": "r-1", "model": "gpt-4o",
            "input_tokens": tokens, "output_tokens": 0}
    assert client.post("/api/v1/usage", json=body, headers=auth).status_code == 200


def preflight(client, auth) -> dict:
    response = client.post("/api/v1/preflight", json={"story": "TES-41", "agent": "coder", "run_id": "r-1"},
                           headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def labels_of(db, key: str) -> list[str] | None:
    with db.session_factory() as session:
        row = session.get(StoryLabels, key)
        return row.labels if row else None


def test_a_jira_label_sets_the_storys_label_cap(client, db, app, auth, jira_http):
    spend(client, auth, 150)  # over the label's 100-token run cap, far under the default 50,000
    assert preflight(client, auth)["decision"] == "allow"

    assert post_webhook(client, fixture_copy("jira__issue_updated__assigned.json")).status_code == 200

    assert labels_of(db, "TES-41") == ["test-label"]
    answer = preflight(client, auth)
    assert answer["decision"] == "block"
    assert [(r["code"], r["limit"]) for r in answer["reasons"]] == [("run_tokens", 100)]


def test_labels_removed_in_jira_are_removed_from_the_story(client, db, app, auth, jira_http):
    post_webhook(client, fixture_copy("jira__issue_updated__assigned.json"))
    unlabelled = fixture_copy("jira__issue_updated__assigned.json")
    unlabelled["issue"]["fields"]["labels"] = []

    post_webhook(client, unlabelled, identifier="wh-2")

    assert labels_of(db, "TES-41") == []
    spend(client, auth, 150)
    assert preflight(client, auth)["decision"] == "allow"


def test_labels_that_are_not_a_list_of_words_are_a_400_naming_the_field(client, db, jira_http):
    payload = fixture_copy("jira__issue_updated__assigned.json")
    payload["issue"]["fields"]["labels"] = "test-label"

    response = post_webhook(client, payload)

    assert response.status_code == 400 and "labels" in str(response.json)
    assert labels_of(db, "TES-41") is None
