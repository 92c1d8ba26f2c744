"""`budgetbot agent-env KEY --agent ...`: the exact settings that point an agent's telemetry at budgetbot."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask

AGENTS = ("claude-code", "codex", "gemini")


@click.command("agent-env")
@click.argument("story")
@click.option("--agent", "agent", type=click.Choice(AGENTS), required=True, help="The coding agent to set up.")
@click.option("--token-name", help="Name of the API token to create (default: AGENT-STORY).")
@click.option("--no-token", is_flag=True, help="Do not create a token; print a placeholder to replace.")
@with_app
def agent_env(app: Flask, story: str, agent: str, token_name: str | None, no_token: bool) -> None:
    """Print what to set so AGENT reports every model call of STORY to budgetbot (OTLP/HTTP, no code change)."""
    from bot.db import get_db
    from bot.ledger.keys import InvalidStoryKey, normalize_key
    from bot.web.auth import TokenError, create_token

    try:
        key = normalize_key(story)
    except InvalidStoryKey as exc:
        raise click.BadParameter(str(exc), param_hint="STORY") from None
    settings = app.config["SETTINGS"]
    if no_token:
        secret = "<TOKEN>"
        click.echo("# replace <TOKEN> with an API token: budgetbot token create NAME", err=True)
    else:
        name = token_name or f"{agent}-{key.lower()}"
        try:
            with get_db().transaction() as session:
                secret = create_token(session, name)
        except TokenError as exc:
            raise click.ClickException(f"{exc}; pass --token-name, or --no-token to use a token you have") from None
        click.echo(f"# created API token {name!r}; it is shown only here (revoke: budgetbot token revoke {name})",
                   err=True)
    lines = render(agent, key, settings.public_url.rstrip("/"), secret, settings.otel_story_attribute)
    click.echo("\n".join(lines))


def render(agent: str, key: str, endpoint: str, secret: str, story_attribute: str) -> list[str]:
    """The lines for `agent`: shell exports, plus Codex's [otel] block for ~/.codex/config.toml."""
    headers = shlex.quote(f"Authorization=Bearer {secret}")
    story = [(f"export OTEL_RESOURCE_ATTRIBUTES={shlex.quote(f'{story_attribute}={key}')}"
              "  # append other key=value pairs with commas (team=..., cost_center=...)")]
    check = [(f"# check: after the first model call, `budgetbot status {key}` shows the spend and "
              f"{endpoint}/healthz counts it under otel.usage_events")]
    if agent == "claude-code":
        return [("# Claude Code: run these in the shell that starts `claude` (or put them in the env block of "
                 ".claude/settings.json)"),
                "export CLAUDE_CODE_ENABLE_TELEMETRY=1",
                "export OTEL_LOGS_EXPORTER=otlp",
                "export OTEL_METRICS_EXPORTER=none  # budgetbot counts the api_request events, not the metrics",
                "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                f"export OTEL_EXPORTER_OTLP_ENDPOINT={shlex.quote(endpoint)}",
                f"export OTEL_EXPORTER_OTLP_HEADERS={headers}",
                *story, *check]
    if agent == "gemini":
        return ["# Gemini CLI: run these in the shell that starts `gemini`",
                "export GEMINI_TELEMETRY_ENABLED=true",
                "export GEMINI_TELEMETRY_TARGET=local",
                "export GEMINI_TELEMETRY_OTLP_PROTOCOL=http",
                f"export GEMINI_TELEMETRY_OTLP_ENDPOINT={shlex.quote(endpoint)}",
                "export GEMINI_TELEMETRY_LOG_PROMPTS=false",
                f"export OTEL_EXPORTER_OTLP_HEADERS={headers}",
                *story, *check]
    return ["# Codex CLI: add this to ~/.codex/config.toml (Codex reads [otel] only from the user-level file)",
            "[otel]",
            "log_user_prompt = false",
            (f'exporter = {{ otlp-http = {{ endpoint = "{endpoint}/v1/logs", protocol = "binary", '
             f'headers = {{ "Authorization" = "Bearer {secret}" }} }} }}'),
            "",
            "# and run this in the shell that starts `codex`, so its calls are charged to the story:",
            *story, *check]
