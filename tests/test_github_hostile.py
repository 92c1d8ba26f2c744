"""GitHub webhooks under hostile or odd input: replays, wrong types and sizes, merge queues."""

from __future__ import annotations

import pytest
import responses
from github_support import REPO_ID, FakeGitHub, deliver, drain, fixture, github_settings, pr_event, usage
from sqlalchemy import func, select

from bot.integrations.deliveries import Delivery
from bot.integrations.github.tables import GitHubOverride, GitHubPullRequest, GitHubRepository
from bot.outbox.tables import OutboxRow


@pytest.fixture
def settings_overrides(db_url):
    return github_settings(db_url)


def count(db, model, *where) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def standing_approvals(db) -> int:
    return count(db, GitHubOverride, GitHubOverride.revoked_at.is_(None))


def test_a_replayed_labeled_body_does_not_re_approve_a_revoked_overrun(client, db):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    labeled = pr_event("labeled", title="PROJ-1: x", labels=["budget-override"], label="budget-override")
    unlabeled = pr_event("unlabeled", title="PROJ-1: x", labels=[], label="budget-override")
    deliver(client, "pull_request", labeled, delivery="d-label")
    deliver(client, "pull_request", unlabeled, delivery="d-unlabel")
    assert standing_approvals(db) == 0

    # The same signed body again: GitHub's signature covers the body, not the X-GitHub-Delivery header.
    replay = deliver(client, "pull_request", labeled, delivery="d-label-replayed")

    assert replay.status_code == 200
    assert standing_approvals(db) == 0


def test_a_revoke_in_the_same_second_as_the_label_wins(client, db):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    labeled = pr_event("labeled", title="PROJ-1: x", labels=["budget-override"], label="budget-override")
    unlabeled = pr_event("unlabeled", title="PROJ-1: x", labels=[], label="budget-override")
    unlabeled["pull_request"]["updated_at"] = labeled["pull_request"]["updated_at"]  # GitHub times are seconds
    deliver(client, "pull_request", labeled)
    deliver(client, "pull_request", unlabeled)
    deliver(client, "pull_request", labeled, delivery="replay-of-the-label")

    assert standing_approvals(db) == 0


def test_a_replayed_approve_button_does_not_re_approve_after_a_revoke(client, db):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    button = fixture("check_run__requested_action")
    button["repository"]["id"] = REPO_ID
    button["check_run"]["pull_requests"] = [{"number": 2}]
    button["check_run"]["completed_at"] = "2026-01-01T00:00:00Z"
    button["requested_action"] = {"identifier": "approve-overrun"}
    deliver(client, "check_run", button)
    assert standing_approvals(db) == 1
    unlabeled = pr_event("unlabeled", title="PROJ-1: x", labels=[], label="budget-override")
    unlabeled["pull_request"]["updated_at"] = "2026-01-02T00:00:00Z"
    deliver(client, "pull_request", unlabeled)
    assert standing_approvals(db) == 0

    deliver(client, "check_run", button, delivery="button-replayed")

    assert standing_approvals(db) == 0


def test_merge_group_checks_requested_queues_a_check_on_the_groups_head_sha(client, db):
    payload = fixture("merge_group__checks_requested")

    response = deliver(client, "merge_group", payload)

    assert response.status_code == 200 and response.json["status"] == "processed"
    with db.session_factory() as session:
        row = session.scalar(select(OutboxRow))
    assert row.kind == "github.check_run"
    assert (row.payload["repo_id"], row.payload["repo"], row.payload["sha"], row.payload["installation_id"]) == (
        17273051, "octo-org/octo-repo", "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d", 1)
    assert row.payload["branch"] is None  # "gh-readonly-queue/main/pr-104-..." names no story


def test_the_merge_groups_check_run_is_posted_neutral_on_its_head_sha(app, client, db):
    deliver(client, "merge_group", fixture("merge_group__checks_requested"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        github = FakeGitHub(rsps)
        drain(app)

        assert github.requests == [("POST", "/app/installations/1/access_tokens"),
                                   ("POST", "/repos/octo-org/octo-repo/check-runs")]
        body = github.body(1)
    assert (body["name"], body["head_sha"], body["conclusion"]) == (
        "within token budget", "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d", "neutral")


def test_a_repository_id_that_is_not_a_number_is_400_and_stores_nothing(client, db, auth):
    payload = pr_event("opened", title="PROJ-1: x")
    payload["repository"]["id"] = "abc"

    response = deliver(client, "pull_request", payload)

    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == "repository.id"
    assert (count(db, Delivery), count(db, GitHubRepository), count(db, GitHubPullRequest)) == (0, 0, 0)
    usage(client, auth, "PROJ-1", tokens=100, usd="0.01")  # asserts 200: the story is not poisoned


@pytest.mark.parametrize(("event", "name", "path", "value"), [
    ("pull_request", None, "label", "budget-override"),
    ("pull_request", None, "sender", "octocat"),
    ("pull_request", None, "installation", "12"),
    ("pull_request", None, "pull_request.labels.0", "bug"),
    ("check_suite", "check_suite__requested", "check_suite", "abc"),
    ("installation", "installation__created", "installation.account", "Codertocat"),
    ("check_run", "check_run__requested_action", "requested_action", "approve-overrun"),
])
def test_a_field_of_the_wrong_shape_is_400_naming_it(client, db, event, name, path, value):
    payload = pr_event("labeled", title="PROJ-1: x") if name is None else fixture(name)
    target = payload
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = value

    response = deliver(client, event, payload)

    assert response.status_code == 400, response.json
    assert response.json["errors"][0]["path"] == path
    assert (count(db, Delivery), count(db, OutboxRow)) == (0, 0)


@pytest.mark.parametrize(("path", "value"), [
    ("pull_request.number", 2**31),
    ("repository.full_name", "o/" + "r" * 299),
    ("pull_request.head.sha", "a" * 10_000),
    ("pull_request.head.sha", "not-a-sha"),
    ("repository.id", 2**63),
    ("pull_request.state", "exploded"),
])
def test_values_no_github_sends_are_400_before_anything_is_stored(client, db, path, value):
    payload = pr_event("opened", title="PROJ-1: x")
    target = payload
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value

    response = deliver(client, "pull_request", payload)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == path
    assert (count(db, Delivery), count(db, GitHubPullRequest), count(db, OutboxRow)) == (0, 0, 0)


def test_the_longest_names_github_allows_are_stored(client, db):
    payload = pr_event("opened", title="PROJ-1: x", ref="feature/" + "b" * 240)
    payload["repository"]["full_name"] = "o" * 39 + "/" + "r" * 100
    payload["pull_request"]["number"] = 2**31 - 1
    payload["sender"]["login"] = "renovate-enterprise-app[bot]"

    response = deliver(client, "pull_request", payload)

    assert response.status_code == 200
    assert count(db, GitHubPullRequest, GitHubPullRequest.number == 2**31 - 1) == 1


def test_a_nul_in_a_stored_text_is_400_not_a_database_error(client, db):
    response = deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x\x00y"))

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "pull_request.title"
    assert count(db, GitHubPullRequest) == 0


def test_a_signed_body_nested_20000_deep_is_400(client):
    body = ("[" * 20_000 + "]" * 20_000).encode()
    from github_support import sign

    response = client.post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": "ping", "X-GitHub-Delivery": "deep", "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json"})

    assert response.status_code == 400 and response.json["error"] == "malformed_json"
