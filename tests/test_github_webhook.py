"""POST /webhooks/github: signatures fail closed, redeliveries count once, events are routed by an explicit table."""

from __future__ import annotations

import logging

import pytest
from github_support import REPO_ID, SECRET, SHA, deliver, fixture, github_settings, pr_event
from sqlalchemy import delete, func, select

from bot.app import create_app
from bot.db import get_db
from bot.integrations.deliveries import Delivery
from bot.integrations.github.tables import (
    GitHubInstallation,
    GitHubPullRequest,
    GitHubPullRequestStory,
    GitHubRepository,
)
from bot.integrations.github.webhook import signature_for, verify_signature
from bot.outbox.tables import OutboxRow


@pytest.fixture
def settings_overrides(db_url):
    return github_settings(db_url)


def count(db, model) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def pull_request(db, number: int = 2) -> GitHubPullRequest | None:
    with db.session_factory() as session:
        return session.scalar(select(GitHubPullRequest).where(GitHubPullRequest.number == number))


def test_githubs_documented_signature_test_vector():
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_for(b"It's a Secret to Everybody", b"Hello, World!") == expected
    assert verify_signature(b"It's a Secret to Everybody", b"Hello, World!", expected)
    assert not verify_signature(b"It's a Secret to Everybody", b"Hello, World?", expected)
    assert not verify_signature(b"It's a Secret to Everybody", b"Hello, World!", None)


def test_a_signed_ping_is_answered(client, db):
    response = deliver(client, "ping", fixture("ping"))

    assert response.status_code == 200
    assert response.json["status"] == "processed" and response.json["zen"]
    assert count(db, Delivery) == 1


def test_bad_signature_is_401_and_nothing_is_stored(client, db):
    response = deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"), secret="not-the-secret")

    assert response.status_code == 401 and response.json["error"] == "bad_signature"
    assert (count(db, Delivery), count(db, GitHubPullRequest), count(db, OutboxRow)) == (0, 0, 0)


def test_missing_signature_is_401_and_nothing_is_stored(client, db):
    response = deliver(client, "pull_request", pr_event("opened"), secret=None)

    assert response.status_code == 401 and response.json["error"] == "missing_signature"
    assert (count(db, Delivery), count(db, GitHubPullRequest), count(db, OutboxRow)) == (0, 0, 0)


def test_a_body_changed_after_signing_is_rejected(client):
    signed = pr_event("opened", title="PROJ-1: honest")
    import json

    from github_support import sign

    signature = sign(json.dumps(signed).encode())
    signed["pull_request"]["title"] = "PROJ-1: tampered"
    assert deliver(client, "pull_request", signed, signature=signature).status_code == 401


@pytest.mark.parametrize("dry_run", [False, True])
def test_no_secret_configured_fails_closed_even_in_dry_run(db_url, dry_run):
    app = create_app({"database_url": db_url, "dry_run": dry_run})
    try:
        unsigned = app.test_client().post("/webhooks/github", json=fixture("ping"),
                                          headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1"})
        signed = deliver(app.test_client(), "ping", fixture("ping"))
    finally:
        get_db(app).dispose()
    assert unsigned.status_code == 503 and signed.status_code == 503
    assert "BUDGETBOT_GITHUB_WEBHOOK_SECRET" in signed.json["message"]


def test_dry_run_does_not_accept_unsigned_deliveries(db_url):
    app = create_app(github_settings(db_url, dry_run=True))
    try:
        response = deliver(app.test_client(), "ping", fixture("ping"), secret=None)
    finally:
        get_db(app).dispose()
    assert response.status_code == 401


def test_a_replayed_delivery_answers_200_and_does_nothing_twice(client, db):
    payload = pr_event("opened", title="PROJ-123: retry uploads")

    first = deliver(client, "pull_request", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(client, "pull_request", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")

    assert first.status_code == 200 and first.json["status"] == "processed"
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert (count(db, Delivery), count(db, GitHubPullRequest), count(db, OutboxRow)) == (1, 1, 1)


def test_unknown_event_answers_202_and_is_logged(client, db, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.integrations.github.webhook"):
        response = deliver(client, "deployment_status", {"action": "created", "deployment_status": {}})

    assert response.status_code == 202 and response.json["status"] == "unknown_event"
    assert "deployment_status.created" in caplog.text
    assert count(db, OutboxRow) == 0


def test_an_unknown_action_of_a_handled_event_is_202_too(client):
    assert deliver(client, "pull_request", pr_event("frobnicated")).status_code == 202


@pytest.mark.parametrize("name", ["check_run__completed", "check_run__created", "check_suite__completed",
                                  "pull_request__assigned"])
def test_deliberately_ignored_events_answer_200_without_side_effects(client, db, name):
    event = name.split("__")[0]
    response = deliver(client, event, fixture(name))

    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert (count(db, GitHubPullRequest), count(db, OutboxRow)) == (0, 0)


def test_missing_event_header_names_it(client):
    response = client.post("/webhooks/github", data=b"{}", headers={
        "X-Hub-Signature-256": signature_for(SECRET.encode(), b"{}"), "X-GitHub-Delivery": "d"})
    assert response.status_code == 400 and response.json["errors"][0]["path"] == "X-GitHub-Event"


def test_a_signed_payload_missing_a_field_is_400_naming_it(client, db):
    payload = pr_event("opened")
    del payload["pull_request"]["head"]

    response = deliver(client, "pull_request", payload)

    assert response.status_code == 400 and "head" in response.json["message"]
    assert count(db, Delivery) == 0  # rolled back with the rest: a fixed redelivery is processed


def test_pr_links_keys_from_title_branch_and_body(client, db):
    payload = pr_event("opened", title="[PROJ-7] retry", ref="feature/proj-123-retry",
                       body="Also fixes PROJ-9 and OTHER-1; not XPROJ-1234.")

    response = deliver(client, "pull_request", payload)

    assert response.json["stories"] == ["PROJ-7", "PROJ-123", "PROJ-9"]  # OTHER is not in BUDGETBOT_JIRA_PROJECTS
    with db.session_factory() as session:
        links = set(session.scalars(select(GitHubPullRequestStory.story_key)))
    assert links == {"PROJ-7", "PROJ-123", "PROJ-9"}


def test_pr_with_a_null_body_links_from_its_title(client, db):
    response = deliver(client, "pull_request", pr_event("opened", title="PROJ-5: fix", body=None))

    assert response.status_code == 200 and response.json["stories"] == ["PROJ-5"]


def test_pr_naming_no_story_is_tracked_and_still_gets_a_check_queued(client, db):
    response = deliver(client, "pull_request", fixture("pull_request__opened"))

    assert response.status_code == 200
    assert response.json["stories"] == [] and response.json["check_queued"] is True
    assert pull_request(db).head_sha == SHA


def test_editing_the_title_relinks_the_stories(client, db):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: first"))
    deliver(client, "pull_request", pr_event("edited", title="PROJ-2: renamed"))

    with db.session_factory() as session:
        assert list(session.scalars(select(GitHubPullRequestStory.story_key))) == ["PROJ-2"]


def test_a_late_older_delivery_does_not_roll_the_head_back(client, db):
    older = pr_event("synchronize", sha="a" * 40)
    newer = pr_event("synchronize", sha="b" * 40)

    deliver(client, "pull_request", newer)
    deliver(client, "pull_request", older)

    assert pull_request(db).head_sha == "b" * 40


def test_closing_a_pr_queues_nothing(client, db):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    with db.transaction() as session:
        session.execute(delete(OutboxRow))

    response = deliver(client, "pull_request", pr_event("closed"))

    assert response.json["check_queued"] is False and pull_request(db).state == "closed"
    assert count(db, OutboxRow) == 0


def test_installation_events_track_which_installation_serves_which_repository(client, db):
    deliver(client, "installation", fixture("installation__created"))
    deliver(client, "installation_repositories", fixture("installation_repositories__added"))

    with db.session_factory() as session:
        repos = {r.full_name: (r.installation_id, r.removed_at) for r in session.scalars(select(GitHubRepository))}
        installation = session.get(GitHubInstallation, 957387)
    assert repos == {"Codertocat/Hello-World": (957387, None), "Codertocat/Space": (957387, None)}
    assert installation.account == "Codertocat" and installation.deleted_at is None

    deliver(client, "installation", fixture("installation__suspend"))
    removed = fixture("installation_repositories__removed")
    removed["installation"]["id"] = 957387
    removed["repositories_removed"] = [{"id": REPO_ID, "full_name": "Codertocat/Hello-World"}]
    deliver(client, "installation_repositories", removed)

    with db.session_factory() as session:
        assert session.get(GitHubRepository, REPO_ID).removed_at is not None
        assert session.get(GitHubInstallation, 16598467).suspended_at is not None


def test_installation_deleted_marks_its_repositories_removed(client, db):
    created = fixture("installation__created")
    deliver(client, "installation", created)
    deleted = fixture("installation__deleted")
    deleted["installation"]["id"] = created["installation"]["id"]

    deliver(client, "installation", deleted)

    with db.session_factory() as session:
        assert session.get(GitHubInstallation, 957387).deleted_at is not None
        assert all(r.removed_at is not None for r in session.scalars(select(GitHubRepository)))


def test_form_encoded_deliveries_are_accepted(client, db):
    import json
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(pr_event("opened", title="PROJ-8: form"))}).encode()
    response = client.post("/webhooks/github", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "form-1", "X-Hub-Signature-256": signature_for(SECRET.encode(), body)})

    assert response.status_code == 200 and response.json["stories"] == ["PROJ-8"]


def test_a_pr_opened_with_the_override_label_is_approved_by_its_labeled_event_only(client, db):
    from bot.integrations.github.tables import GitHubOverride

    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x", labels=["budget-override"]))
    assert count(db, GitHubOverride) == 0
    deliver(client, "pull_request", pr_event("labeled", title="PROJ-1: x", labels=["budget-override"],
                                             label="Budget-Override"))  # GitHub labels ignore case
    deliver(client, "pull_request", pr_event("labeled", title="PROJ-1: x", labels=["budget-override"],
                                             label="budget-override"))  # a redundant one adds nothing
    assert count(db, GitHubOverride) == 1


def test_concurrent_deliveries_for_a_new_pr_all_succeed_and_make_one_row(app, db):
    import threading

    payloads = [pr_event(action, title="PROJ-1: race", number=77) for action in
                ("opened", "labeled", "edited", "ready_for_review", "synchronize", "edited")]
    answers: list[int] = []

    def send(payload):
        answers.append(deliver(app.test_client(), "pull_request", payload).status_code)

    threads = [threading.Thread(target=send, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * len(payloads)
    assert count(db, GitHubPullRequest) == 1 and count(db, GitHubPullRequestStory) == 1
