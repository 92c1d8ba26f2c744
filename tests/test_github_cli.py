"""`budgetbot github check OWNER/REPO#N` prints what the check would say now, and sends nothing."""

from __future__ import annotations

import json

import pytest
from github_support import SHA, deliver, github_settings, pr_event, usage


@pytest.fixture
def settings_overrides(db_url):
    return github_settings(db_url)


def test_check_prints_the_verdict_of_a_known_pr(cli, client, auth):
    assert client.put("/api/v1/stories/PROJ-123/budget", json={"tokens": "100k"}, headers=auth).status_code == 200
    usage(client, auth, "PROJ-123", tokens=150_000, usd="3")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: retry uploads"))

    result = cli("github", "check", "codertocat/hello-world#2")

    assert result.exit_code == 0
    assert f"Codertocat/Hello-World#2 at {SHA[:12]} (open)" in result.output
    assert "within token budget: FAILURE - PROJ-123: 150k / 100k tokens (150%)" in result.output
    assert "| Tokens | 100,000 | 150,000 | 150% |" in result.output


def test_check_json_is_the_body_github_would_get(cli, client):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))

    body = json.loads(cli("github", "check", "Codertocat/Hello-World#2", "--json").output)

    assert body["head_sha"] == SHA and body["conclusion"] == "neutral" and body["status"] == "completed"


def test_check_lists_the_approvals_audit_trail(cli, client):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    deliver(client, "pull_request", pr_event("labeled", title="PROJ-1: x", labels=["budget-override"],
                                             label="budget-override"))
    deliver(client, "pull_request", pr_event("unlabeled", title="PROJ-1: x", labels=[], label="budget-override"))

    output = cli("github", "check", "Codertocat/Hello-World#2").output

    assert "approval: Codertocat via label" in output and "revoked by Codertocat" in output


def test_check_of_an_unknown_pr_or_a_malformed_name_fails_clearly(cli):
    unknown = cli("github", "check", "acme/api#42")
    malformed = cli("github", "check", "acme-api-42")

    assert unknown.exit_code != 0 and "has not seen acme/api#42" in unknown.output
    assert malformed.exit_code != 0 and "expected OWNER/REPO#N" in malformed.output


def test_github_commands_have_help(cli):
    assert "OWNER/REPO#N" in cli("github", "check", "--help").output
