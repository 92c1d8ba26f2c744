"""The `budgetbot` command: tokens, budgets, status, prices, migrations, and clear errors."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import select

from bot.web.tables import ApiToken


def test_token_create_prints_the_secret_once_and_stores_only_its_hash(cli, db):
    result = cli("token", "create", "ci-agent")

    secret = result.stdout.strip()
    assert result.exit_code == 0 and secret.startswith("bb_")
    with db.session_factory() as session:
        stored = session.scalar(select(ApiToken))
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in cli("token", "list").output


def test_token_names_are_unique_and_revoking_an_unknown_name_fails(cli):
    cli("token", "create", "ci-agent")

    duplicate = cli("token", "create", "ci-agent")
    unknown = cli("token", "revoke", "nobody")

    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    assert unknown.exit_code != 0 and "no token named 'nobody'" in unknown.output


def test_created_token_authorizes_the_api_and_revoke_stops_it_within_seconds(cli, client, monkeypatch):
    secret = cli("token", "create", "proxy").stdout.strip()
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"event_id": "1", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1}

    assert client.post("/api/v1/usage", json=body, headers=headers).status_code == 200
    cli("token", "revoke", "proxy")  # another process: the server trusts what it verified for 5 s more at most
    started = time.monotonic()
    monkeypatch.setattr("bot.web.auth.time.monotonic", lambda: started + 5.1)
    assert client.post("/api/v1/usage", json=body, headers=headers).status_code == 401
    assert "revoked" in cli("token", "list").output


def test_budget_set_and_status(cli):
    cli("budget", "set", "proj-1", "200k")
    result = cli("budget", "set", "PROJ-1", "$5")

    assert result.exit_code == 0
    assert "200,000" in result.output and "$5" in result.output
    assert '"tokens": 200000' in cli("status", "PROJ-1", "--json").output


def test_budget_set_garbage_is_an_error_that_changes_nothing(cli):
    cli("budget", "set", "PROJ-1", "200k")

    garbage = cli("budget", "set", "PROJ-1", "lots")
    not_a_key = cli("budget", "set", "hello", "5k")

    assert garbage.exit_code != 0 and "is not a token count" in garbage.output
    assert not_a_key.exit_code != 0 and "not a Jira issue key" in not_a_key.output
    assert '"tokens": 200000' in cli("status", "PROJ-1", "--json").output


def test_status_of_an_unknown_story(cli):
    result = cli("status", "PROJ-404")

    assert result.exit_code != 0 and "no budget or spend recorded for PROJ-404" in result.output


def test_prices_show(cli):
    known = cli("prices", "show", "claude-sonnet-4-5")
    unknown = cli("prices", "show", "acme-llm")

    assert known.exit_code == 0 and "anthropic" in known.output and "$3/MTok" in known.output
    assert unknown.exit_code == 1 and "unknown model" in unknown.output


def test_a_bad_setting_names_the_variable(cli):
    result = cli("status", "PROJ-1", env={"BUDGETBOT_WARN_THRESHOLD": "eighty"})

    assert result.exit_code != 0
    assert "BUDGETBOT_WARN_THRESHOLD" in result.output


def test_db_upgrade_creates_the_schema(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"

    result = cli("db", "upgrade", env={"BUDGETBOT_DATABASE_URL": url})

    assert result.exit_code == 0 and "up to date" in result.output
    assert cli("token", "create", "x", env={"BUDGETBOT_DATABASE_URL": url}).exit_code == 0


def test_help_lists_the_commands(cli):
    result = cli("--help")

    for command in ("serve", "db", "token", "budget", "status", "rebuild", "prices"):
        assert command in result.output
