"""GitHub's failures become outbox decisions: rate limits and 5xx retry (once, by the outbox), 4xx go dead with
a message a person can act on; installation tokens are reused until they expire."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import responses
from github_support import REPO, FakeGitHub, deliver, drain, github_settings, pr_event, url
from sqlalchemy import select

from bot.integrations.github import client as github_client
from bot.outbox import PermanentError, RetryableError
from bot.outbox.tables import OutboxRow

CHECK_RUNS = url(r"/repos/[^/]+/[^/]+/check-runs")
TOKENS = url(r"/app/installations/\d+/access_tokens")


@pytest.fixture
def settings_overrides(db_url):
    return github_settings(db_url)


@pytest.fixture(autouse=True)
def _fresh_tokens():
    github_client.forget_clients()
    yield
    github_client.forget_clients()


def token_ok(rsps) -> None:
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rsps.add(responses.POST, TOKENS, json={"token": "ghs_t", "expires_at": expires}, status=201)


def post_check(app, status: int, body: dict, headers: dict | None = None, token_status: int = 201):
    """Send one check-run POST against a GitHub answering `status`; the exception and the number of calls."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        if token_status == 201:
            token_ok(rsps)
        else:
            rsps.add(responses.POST, TOKENS, json={"message": "A JSON web token could not be decoded"},
                     status=token_status)
        rsps.add(responses.POST, CHECK_RUNS, json=body, status=status, headers=headers or {})
        with pytest.raises((RetryableError, PermanentError)) as caught:
            github_client.client(app.config["SETTINGS"], 1).create_check_run(REPO, {"name": "x"})
        return caught.value, len(rsps.calls)


def test_primary_rate_limit_retries_after_the_reset(app):
    reset = int(time.time()) + 60
    error, calls = post_check(app, 403, {"message": "API rate limit exceeded for installation ID 1."},
                              {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})

    assert isinstance(error, RetryableError) and "rate limited" in str(error)
    assert 50 <= error.retry_after <= 61
    assert calls == 2  # token + one POST: PyGithub's own retries are off, the outbox owns them


def test_secondary_rate_limit_honours_retry_after(app):
    error, _ = post_check(app, 403, {"message": "You have exceeded a secondary rate limit. Please wait."},
                          {"Retry-After": "60"})
    assert isinstance(error, RetryableError) and error.retry_after == 60


def test_429_retry_after_is_passed_to_the_outbox(app):
    error, _ = post_check(app, 429, {"message": "Too many requests"}, {"Retry-After": "120"})
    assert isinstance(error, RetryableError) and error.retry_after == 120


def test_server_errors_are_retryable_and_not_retried_inside_pygithub(app):
    error, calls = post_check(app, 502, {"message": "Server Error"})
    assert isinstance(error, RetryableError) and "GitHub 502" in str(error)
    assert calls == 2


@pytest.mark.parametrize(("status", "message", "advice"), [
    (403, "Resource not accessible by integration", "Checks: read and write"),
    (404, "Not Found", "is the App still installed on this repository"),
    (422, "Validation Failed", "refused the check run as invalid"),
])
def test_client_errors_are_permanent_with_advice(app, status, message, advice):
    error, calls = post_check(app, status, {"message": message})
    assert isinstance(error, PermanentError) and advice in str(error) and calls == 2


def test_bad_app_credentials_are_permanent_and_name_the_settings(app):
    error, calls = post_check(app, 201, {}, token_status=401)
    assert isinstance(error, PermanentError) and "BUDGETBOT_GITHUB_APP_ID" in str(error)
    assert calls == 1  # the token request failed; no check-run request was attempted


def test_the_outbox_keeps_a_502_pending_and_kills_a_404(client, app, db):
    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        token_ok(rsps)
        rsps.add(responses.POST, CHECK_RUNS, json={"message": "Bad Gateway"}, status=502)
        rsps.add(responses.POST, CHECK_RUNS, json={"message": "Not Found"}, status=404)
        drain(app)
        with db.session_factory() as session:
            first = session.scalar(select(OutboxRow))
            assert (first.state, first.attempts) == ("pending", 1) and "GitHub 502" in first.last_error
        drain(app, seconds=3600)  # past any backoff
    with db.session_factory() as session:
        row = session.scalar(select(OutboxRow))
    assert (row.state, row.attempts) == ("dead", 2) and "installed" in row.last_error


def test_a_malformed_private_key_is_a_permanent_configuration_error(db_url):
    from bot.app import create_app
    from bot.db import get_db

    app = create_app(github_settings(db_url, github_private_key="not a key"))
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False), \
                pytest.raises(PermanentError, match="private key"):
            github_client.client(app.config["SETTINGS"], 1).create_check_run(REPO, {})
    finally:
        get_db(app).dispose()


def test_the_installation_token_is_reused_until_it_expires(client, app, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=True)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gh = FakeGitHub(rsps)
        for sha in ("a" * 40, "b" * 40):
            deliver(client, "pull_request", pr_event("synchronize", title="PROJ-1: x", sha=sha))
            drain(app)
        time_machine.move_to(datetime.now(UTC) + timedelta(hours=2), tick=True)  # tokens live one hour
        deliver(client, "pull_request", pr_event("synchronize", title="PROJ-1: x", sha="c" * 40))
        drain(app)
        requests = gh.requests
        last = json.loads(gh.rsps.calls[-1].request.body)

    assert [path.rsplit("/", 1)[-1] for _, path in requests] == [
        "access_tokens", "check-runs", "check-runs", "access_tokens", "check-runs"]
    assert last["head_sha"] == "c" * 40


def test_the_private_key_can_come_from_a_file(db_url, tmp_path):
    from github_support import app_key

    from bot.app import create_app
    from bot.db import get_db

    path = tmp_path / "app.pem"
    path.write_text(app_key()[0])
    app = create_app(github_settings(db_url, github_private_key=None, github_private_key_path=str(path)))
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            token_ok(rsps)
            rsps.add(responses.POST, CHECK_RUNS, json={"id": 7}, status=201)
            answer = github_client.client(app.config["SETTINGS"], 1).create_check_run(REPO, {})
        assert answer["id"] == 7
    finally:
        get_db(app).dispose()


def test_a_missing_key_file_is_a_configuration_error_naming_the_variable(db_url, tmp_path):
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="BUDGETBOT_GITHUB_PRIVATE_KEY_PATH"):
        load_settings({"database_url": db_url, "github_private_key_path": str(tmp_path / "missing.pem")})


def test_secrets_never_print(db_url):
    from github_support import app_key

    from bot.config import load_settings

    settings = load_settings(github_settings(db_url))
    assert app_key()[0] not in repr(settings) and "test-webhook-secret" not in str(settings)


def test_a_patch_of_a_deleted_check_run_goes_dead_and_the_next_update_creates_a_new_run(client, app, db):
    from bot.integrations.github.tables import GitHubCheckRun

    deliver(client, "pull_request", pr_event("opened", title="PROJ-1: x"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gh = FakeGitHub(rsps)
        drain(app)
        rsps.remove(responses.PATCH, url(r"/repos/[^/]+/[^/]+/check-runs/\d+"))  # someone deleted the run
        rsps.add(responses.PATCH, url(r"/repos/[^/]+/[^/]+/check-runs/\d+"), status=404,
                 json={"message": "Not Found"})
        deliver(client, "pull_request", pr_event("labeled", title="PROJ-1: x", labels=["budget-override"],
                                                 label="budget-override"))
        drain(app)
        with db.session_factory() as session:
            dead = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()[-1]
            remembered = session.scalars(select(GitHubCheckRun)).all()
        assert [m for m, _ in gh.requests] == ["POST", "POST", "PATCH"]  # token, create, update: no new run
        assert dead.state == "dead" and "check run 4242 no longer exists" in dead.last_error
        assert remembered == []

        deliver(client, "pull_request", pr_event("unlabeled", title="PROJ-1: x", labels=[],
                                                 label="budget-override"))
        drain(app)
        assert gh.requests[-1] == ("POST", f"/repos/{REPO}/check-runs")
