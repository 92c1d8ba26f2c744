"""`budgetbot agent-env`: the printed lines, used as printed, make a real exporter report to budgetbot."""

from __future__ import annotations

import shlex
import tomllib

from otel_support import CLAUDE_RESOURCE, claude_api_request, log_batch, served
from sqlalchemy import select

from bot.ledger.tables import UsageEvent
from bot.web.tables import ApiToken


def exports(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line, comments=True)[1].partition("=")
            found[name] = value
    return found


def test_claude_code_lines_work_with_a_real_exporter(app, cli, db, monkeypatch):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk.resources import Resource

    with served(app) as url:
        result = cli("agent-env", "proj-123", "--agent", "claude-code", env={"BUDGETBOT_PUBLIC_URL": url})
        assert result.exit_code == 0, result.output
        env = exports(result.stdout)
        assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1" and env["OTEL_LOGS_EXPORTER"] == "otlp"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == url
        assert env["OTEL_RESOURCE_ATTRIBUTES"] == "jira.issue.key=PROJ-123"
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # An exporter configured only by the environment, as Claude Code's is.
        batch = log_batch([claude_api_request(1)], {**Resource.create().attributes, **CLAUDE_RESOURCE})
        exporter = OTLPLogExporter()
        assert exporter.export(batch).name == "SUCCESS"
        exporter.shutdown()
    with db.session_factory() as session:
        [row] = session.scalars(select(UsageEvent))
        assert row.story_key == "PROJ-123"
        assert session.scalar(select(ApiToken.name)) == "claude-code-proj-123"


def test_codex_block_is_valid_toml_with_the_logs_endpoint(cli, db):
    result = cli("agent-env", "PROJ-9", "--agent", "codex", "--token-name", "ci-codex",
                 env={"BUDGETBOT_PUBLIC_URL": "https://budgetbot.example.com/"})
    assert result.exit_code == 0, result.output
    toml = "\n".join(line for line in result.stdout.splitlines()
                     if not line.startswith(("#", "export ")))
    otel = tomllib.loads(toml)["otel"]
    http = otel["exporter"]["otlp-http"]
    assert http["endpoint"] == "https://budgetbot.example.com/v1/logs" and http["protocol"] == "binary"
    assert http["headers"]["Authorization"].startswith("Bearer bb_")
    assert exports(result.stdout)["OTEL_RESOURCE_ATTRIBUTES"] == "jira.issue.key=PROJ-9"


def test_gemini_lines_and_placeholder_token(cli, db):
    result = cli("agent-env", "PROJ-9", "--agent", "gemini", "--no-token")
    assert result.exit_code == 0
    env = exports(result.stdout)
    assert env["GEMINI_TELEMETRY_OTLP_PROTOCOL"] == "http" and env["GEMINI_TELEMETRY_TARGET"] == "local"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "Authorization=Bearer <TOKEN>"
    assert "budgetbot token create" in result.stderr
    with db.session_factory() as session:
        assert session.scalar(select(ApiToken.name)) is None


def test_bad_key_and_taken_token_name_are_clear_errors(cli, db):
    assert "not a Jira issue key" in cli("agent-env", "nope", "--agent", "codex").output
    assert cli("agent-env", "PROJ-1", "--agent", "codex").exit_code == 0
    again = cli("agent-env", "PROJ-1", "--agent", "codex")
    assert again.exit_code == 1 and "--token-name" in again.output


def test_the_docs_example_export_is_accepted(client, auth, db):
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "agents.md").read_text()
    example = docs.split("-d '", 1)[1].split("'\n", 1)[0]
    response = client.post("/v1/logs", data=example, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_json() == {}
    with db.session_factory() as session:
        [row] = session.scalars(select(UsageEvent))
    assert (row.story_key, row.input_tokens + row.output_tokens) == ("PROJ-123", 23000)
