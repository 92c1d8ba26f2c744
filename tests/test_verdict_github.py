"""Issue 12: the GitHub override label records the approval in the core, so every surface says `overridden`;
and the check of a story with unpriced spend is not success (the exact request GitHub gets)."""

from __future__ import annotations

import pytest
import responses
from github_support import FakeGitHub, deliver, drain, github_settings, pr_event, usage

from bot.integrations.github import client as github_client


@pytest.fixture
def settings_overrides(db_url):
    return github_settings(db_url)


@pytest.fixture
def gh():
    github_client.forget_clients()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGitHub(rsps)
    github_client.forget_clients()


def test_the_override_label_makes_the_story_overridden_in_the_api_and_preflight(client, app, auth, gh):
    client.put("/api/v1/stories/PROJ-123/budget", json={"tokens": "100k"}, headers=auth)
    usage(client, auth, "PROJ-123", tokens=150_000, usd="3")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)
    deliver(client, "pull_request", pr_event("labeled", title="PROJ-123: x", labels=["budget-override"],
                                             label="budget-override"))
    drain(app)

    story = client.get("/api/v1/stories/PROJ-123", headers=auth).json
    assert story["status"] == "overridden" and story["approval"]["by"] == "Codertocat"
    assert story["approval"]["source"] == "github-label"
    listed = client.get("/api/v1/stories?status=overridden", headers=auth).json
    assert [s["key"] for s in listed["stories"]] == ["PROJ-123"]
    decision = client.post("/api/v1/preflight", json={"story": "PROJ-123"}, headers=auth).json
    assert decision["decision"] != "block"

    deliver(client, "pull_request", pr_event("unlabeled", title="PROJ-123: x", labels=[], label="budget-override"))
    drain(app)
    assert client.get("/api/v1/stories/PROJ-123", headers=auth).json["status"] == "over"


def test_unpriced_spend_gets_a_neutral_check_naming_the_model(client, app, auth, gh):
    client.put("/api/v1/stories/PROJ-123/budget", json={"usd": "$0.01"}, headers=auth)
    answer = client.post("/api/v1/usage", json={"event_id": "u1", "story": "PROJ-123", "model": "acme-coder-70b",
                                                 "input_tokens": 5_900_000, "output_tokens": 0}, headers=auth)
    assert answer.json["events"][0]["cost_usd"] is None
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)

    body = gh.body(1)
    assert body["conclusion"] == "neutral"
    assert body["output"]["title"] == "PROJ-123: $0.00 + 1 unpriced / $0.01 (not checked: unpriced models)"
    assert "`acme-coder-70b`" in body["output"]["summary"]
    assert "BUDGETBOT_PRICES_FILE" in body["output"]["summary"]
    assert "| USD | $0.01 | $0.00 + 1 unpriced |" in body["output"]["summary"]
