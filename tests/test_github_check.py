"""The "within token budget" check run: the exact GitHub requests, re-evaluation on spend, coalescing, overrides."""

from __future__ import annotations

import jwt
import pytest
import responses
from github_support import (
    API,
    APP_ID,
    REPO,
    SHA,
    FakeGitHub,
    app_key,
    deliver,
    drain,
    fixture,
    github_settings,
    pr_event,
    usage,
)
from link_support import unsigned
from sqlalchemy import select

from bot.integrations.github import client as github_client
from bot.integrations.github.report import APPROVE, REVOKE
from bot.integrations.github.tables import GitHubOverride
from bot.outbox.tables import OutboxRow

TOKEN = ("POST", "/app/installations/1/access_tokens")
CREATE = ("POST", f"/repos/{REPO}/check-runs")


@pytest.fixture
def settings_overrides(db_url):
    return github_settings(db_url)


@pytest.fixture(autouse=True)
def _fresh_tokens():
    github_client.forget_clients()  # installation tokens are cached per process; each test starts cold
    yield
    github_client.forget_clients()


@pytest.fixture
def gh():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeGitHub(rsps)


def set_budget(client, auth, key: str, tokens: str | None = None, usd: str | None = None) -> None:
    body = {name: value for name, value in (("tokens", tokens), ("usd", usd)) if value}
    assert client.put(f"/api/v1/stories/{key}/budget", json=body, headers=auth).status_code == 200


def test_a_pr_naming_no_story_gets_a_neutral_check_with_exact_requests(client, app, gh):
    deliver(client, "pull_request", fixture("pull_request__opened"))

    assert drain(app) == 1

    assert gh.requests == [TOKEN, CREATE]
    token_request, check_request = (call.request for call in gh.rsps.calls)
    claims = jwt.decode(token_request.headers["Authorization"].removeprefix("Bearer "), app_key()[1],
                        algorithms=["RS256"], options={"verify_iss": False})
    assert str(claims["iss"]) == str(APP_ID)
    assert check_request.headers["Authorization"] == "token ghs_installation_token"
    body = gh.body(1)
    assert {k: body[k] for k in ("name", "head_sha", "status", "conclusion")} == {
        "name": "within token budget", "head_sha": SHA, "status": "completed", "conclusion": "neutral"}
    assert body["output"]["title"] == "No story linked"
    assert "Name the story in the PR title, the branch or the description" in body["output"]["summary"]
    assert "budgetbot budget set PROJ-123 200k" in body["output"]["summary"]
    assert body["actions"] == [] and "details_url" not in body


def test_a_story_without_budget_is_neutral_and_says_how_to_set_one(client, app, auth, gh):
    usage(client, auth, "PROJ-5", tokens=12_300, usd="0.40")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-5: fix", body=None))

    drain(app)

    body = gh.body(1)
    assert body["conclusion"] == "neutral"
    assert body["output"]["title"] == "PROJ-5: no budget set · 12.3k tokens · $0.40 spent"
    assert "budgetbot budget set PROJ-5 200k" in body["output"]["summary"]


def test_warning_check_title_table_and_links(client, app, auth, gh):
    set_budget(client, auth, "PROJ-123", "200k", "$5")
    usage(client, auth, "PROJ-123", tokens=150_000, usd="3.20", prefix="a")
    usage(client, auth, "PROJ-123", tokens=32_000, usd="0.90", model="gpt-4.1", agent="codex", prefix="b")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: retry uploads"))

    drain(app)

    assert gh.requests == [TOKEN, CREATE]
    body = gh.body(1)
    assert body["conclusion"] == "success"
    assert body["output"]["title"] == "PROJ-123: 182k / 200k tokens (91%) · $4.10 / $5.00"
    summary = body["output"]["summary"]
    assert "⚠️ PROJ-123 has used 91% of its budget (warning from 80%)." in summary
    assert "| Tokens | 200,000 | 182,000 | 91% |" in summary and "| USD | $5.00 | $4.10 | 82% |" in summary
    assert "- Top models: claude-sonnet-4 $3.20 · 150k tokens; gpt-4.1 $0.90 · 32k tokens" in summary
    assert "- Top agents: claude-code $3.20" in summary
    assert "[budgetbot](https://budgetbot.test/stories/PROJ-123)" in unsigned(summary)
    assert unsigned(body["details_url"]) == "https://budgetbot.test/stories/PROJ-123"


def test_jira_link_when_the_jira_url_is_configured(client, app, auth, gh):
    # BUDGETBOT_JIRA_URL is the Jira integration's setting; the check reads it when it exists.
    app.config["SETTINGS"].__dict__["jira_url"] = "https://acme.atlassian.net/"
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))

    drain(app)

    assert "[Jira](https://acme.atlassian.net/browse/PROJ-123)" in gh.body(1)["output"]["summary"]


def test_spend_over_budget_patches_the_same_check_run_to_failure(client, app, auth, gh):
    set_budget(client, auth, "PROJ-123", "200k")
    usage(client, auth, "PROJ-123", tokens=100_000, usd="2", prefix="a")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)

    usage(client, auth, "PROJ-123", tokens=150_000, usd="3", prefix="b")
    assert drain(app, seconds=0) == 1  # the conclusion flips: no waiting for the refresh interval

    assert gh.requests == [TOKEN, CREATE, ("PATCH", f"/repos/{REPO}/check-runs/4242")]
    patch = gh.body(2)
    assert "head_sha" not in patch
    assert patch["conclusion"] == "failure" and patch["actions"] == [APPROVE]
    assert patch["output"]["title"] == "PROJ-123: 250k / 200k tokens (125%)"
    assert "**Over budget:** PROJ-123 spent more than its budget" in patch["output"]["summary"]


def test_figures_only_changes_wait_for_the_refresh_interval(client, app, auth, gh):
    set_budget(client, auth, "PROJ-123", "200k")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)

    usage(client, auth, "PROJ-123", tokens=10_000, usd="1", prefix="a")
    assert drain(app, seconds=0) == 0 and drain(app, seconds=20) == 0  # default interval: 30 s
    usage(client, auth, "PROJ-123", tokens=10_000, usd="1", prefix="b")  # joins the waiting update
    assert drain(app, seconds=31) == 1

    assert gh.requests[2:] == [("PATCH", f"/repos/{REPO}/check-runs/4242")]
    assert gh.body(2)["output"]["title"] == "PROJ-123: 20k / 200k tokens (10%)"


def test_a_label_does_not_wait_behind_a_pending_refresh(client, app, auth, gh):
    set_budget(client, auth, "PROJ-123", "100k")
    usage(client, auth, "PROJ-123", tokens=150_000, usd="3", prefix="a")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)
    usage(client, auth, "PROJ-123", tokens=1_000, usd="0.1", prefix="b")  # a refresh now waits 30 s

    deliver(client, "pull_request", pr_event("labeled", title="PROJ-123: x", labels=["budget-override"],
                                             label="budget-override"))

    assert drain(app, seconds=0) == 1
    assert gh.body(2)["conclusion"] == "success"


def test_a_budget_change_updates_the_check_without_waiting(client, app, auth, gh):
    usage(client, auth, "PROJ-123", tokens=100_000, usd="2")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)

    set_budget(client, auth, "PROJ-123", "90k")

    assert drain(app, seconds=0) == 1
    assert gh.check_calls()[-1][2]["conclusion"] == "failure"


def test_a_burst_on_a_story_with_three_open_prs_makes_one_update_per_pr(client, app, auth, gh):
    set_budget(client, auth, "PROJ-123", "2M")
    for number in (2, 3, 4):
        deliver(client, "pull_request", pr_event("opened", number=number, sha=f"{number}" * 40,
                                                 title=f"PROJ-123: part {number}"))
    deliver(client, "pull_request", pr_event("closed", number=5, sha="5" * 40, title="PROJ-123: old"))
    drain(app)
    posted = len(gh.rsps.calls)

    usage(client, auth, "PROJ-123", tokens=1_000_000, usd="25", n=1000)
    drain(app)

    assert posted == 4  # one token + three checks; the closed PR is left alone
    later = gh.requests[posted:]
    assert sorted(later) == [("PATCH", f"/repos/{REPO}/check-runs/{run}") for run in (4242, 4243, 4244)]
    assert all(body["output"]["title"].startswith("PROJ-123: 1M / 2M tokens (50%)")
               for _, _, body in gh.check_calls()[3:])


def test_a_new_head_sha_gets_a_new_check_run(client, app, gh):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    drain(app)
    deliver(client, "pull_request", pr_event("synchronize", title="PROJ-1: x", sha="c" * 40))
    drain(app)

    assert gh.requests == [TOKEN, CREATE, CREATE]
    assert gh.body(2)["head_sha"] == "c" * 40


def test_rerequested_check_run_and_suite_patch_the_existing_run(client, app, gh):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    drain(app)
    suite = fixture("check_suite__rerequested")  # same repository and head SHA as the PR fixtures
    run = fixture("check_run__rerequested")
    run["repository"], run["check_run"]["head_sha"] = suite["repository"], SHA

    assert deliver(client, "check_suite", suite).json["check_queued"] is True
    drain(app)
    assert deliver(client, "check_run", run).json["check_queued"] is True
    drain(app)

    assert gh.requests[2:] == [("PATCH", f"/repos/{REPO}/check-runs/4242")] * 2


def test_a_push_without_a_pr_still_gets_a_check(client, app, gh):
    requested = fixture("check_suite__requested")

    deliver(client, "check_suite", requested)
    drain(app)

    assert gh.requests == [("POST", "/app/installations/957387/access_tokens"), CREATE]
    assert gh.body(1)["head_sha"] == requested["check_suite"]["head_sha"]
    assert gh.body(1)["conclusion"] == "neutral"


def test_override_label_approves_the_overrun_and_removing_it_undoes_that(client, app, auth, gh, db):
    set_budget(client, auth, "PROJ-123", "100k")
    usage(client, auth, "PROJ-123", tokens=150_000, usd="3")
    deliver(client, "pull_request", pr_event("opened", title="PROJ-123: x"))
    drain(app)

    deliver(client, "pull_request", pr_event("labeled", title="PROJ-123: x", labels=["bug", "budget-override"],
                                             label="budget-override"))
    drain(app)
    approved = gh.body(2)
    deliver(client, "pull_request", pr_event("unlabeled", title="PROJ-123: x", labels=["bug"],
                                             label="budget-override"))
    drain(app)

    assert gh.body(1)["conclusion"] == "failure"
    assert approved["conclusion"] == "success" and approved["actions"] == [REVOKE]
    assert approved["output"]["title"] == "PROJ-123: 150k / 100k tokens (150%) · overrun approved by @Codertocat"
    assert "**Overrun approved** by @Codertocat on " in approved["output"]["summary"]
    assert "label `budget-override`" in approved["output"]["summary"]
    assert gh.body(3)["conclusion"] == "failure"
    with db.session_factory() as session:
        (row,) = session.scalars(select(GitHubOverride)).all()
    assert (row.source, row.approved_by, row.stories, row.revoked_by) == (
        "label", "Codertocat", {"PROJ-123": "over"}, "Codertocat")
    assert row.revoked_at >= row.approved_at


def test_other_labels_do_not_touch_the_check(client, app, gh):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    drain(app)

    response = deliver(client, "pull_request", pr_event("labeled", title="PROJ-1: x", label="bug"))

    assert response.json["check_queued"] is False and drain(app) == 0


def test_approve_overrun_button_is_recorded_and_revocable(client, app, auth, gh, db):
    action = fixture("check_run__requested_action")
    repo, run = action["repository"], action["check_run"]
    opened = pr_event("opened", title="PROJ-123: x", number=26764, sha=run["head_sha"])
    opened["repository"], opened["installation"] = repo, action["installation"]
    set_budget(client, auth, "PROJ-123", usd="$1")
    usage(client, auth, "PROJ-123", tokens=1000, usd="1.50")
    deliver(client, "pull_request", opened)
    drain(app)

    unknown = deliver(client, "check_run", action)  # the recording's own button ("lgtm|26764")
    action["requested_action"]["identifier"] = "approve-overrun"
    approved = deliver(client, "check_run", action)
    drain(app)
    action["requested_action"]["identifier"] = "revoke-override"
    deliver(client, "check_run", action)
    drain(app)

    assert "unknown action" in unknown.json["ignored"]
    assert approved.json["pull_requests"] == [26764]
    bodies = [body for _, _, body in gh.check_calls()]
    assert [b["conclusion"] for b in bodies] == ["failure", "success", "failure"]
    assert bodies[0]["output"]["title"] == "PROJ-123: $1.50 / $1.00 (150%)"
    assert "**Overrun approved** by @codebytere" in bodies[1]["output"]["summary"]
    assert "the **Approve overrun** button" in bodies[1]["output"]["summary"]
    with db.session_factory() as session:
        row = session.scalar(select(GitHubOverride))
    assert (row.source, row.approved_by, row.revoked_by) == ("check_action", "codebytere", "codebytere")


def test_dry_run_records_the_exact_request_instead_of_sending(db_url, client, app):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"github_app_id": None})
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))

    with responses.RequestsMock() as rsps:  # any request at all would fail the test
        assert drain(app) == 1
        assert len(rsps.calls) == 0

    from bot.db import get_db
    with get_db(app).session_factory() as session:
        (recorded,) = session.scalar(select(OutboxRow.dry_run_request))
    assert recorded["method"] == "POST" and recorded["url"] == f"{API}/repos/{REPO}/check-runs"
    assert recorded["json"]["head_sha"] == SHA and recorded["json"]["name"] == "within token budget"
    assert recorded["json"]["output"]["title"] == "PROJ-1: no budget set · 0 tokens · $0.00 spent"
