"""CLI start-up: `budgetbot --help` and `budgetbot status` load only what they use (bench/startup.py times them).

What a test can pin is which libraries a command imports, not seconds on a shared machine: each heavy library
is imported by the function that uses it, so these commands never pay for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Libraries no start-up needs: the integrations' SDKs, the price snapshot, charts, the LiteLLM guard's package,
# the scheduler, migrations and the OTLP protobufs.
HEAVY = ("github", "slack_sdk", "jira", "genai_prices", "matplotlib", "litellm", "apscheduler", "alembic",
         "requests", "cryptography", "google.protobuf")
# `--help` only lists commands: not even the web framework, the ORM or the settings' validation.
APP = ("flask", "sqlalchemy", "pydantic", "pydantic_settings")
PROBE = """
import sys
from bot.cli.main import main
try:
    main(prog_name="budgetbot", args=sys.argv[1:])
except SystemExit as stop:
    code = stop.code
watched = {watched!r}
print("loaded:", " ".join(m for m in watched if m in sys.modules), file=sys.stderr)
"""


def loaded_by(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The watched libraries a fresh `budgetbot ARGS` process imported, and what it printed on stdout."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")}
    done = subprocess.run([sys.executable, "-c", PROBE.format(watched=HEAVY + APP), *args], capture_output=True,
                          text=True, cwd=REPO, env={**base, "BUDGETBOT_ENV_FILE": "", **(env or {})}, timeout=120)
    line = next(line for line in done.stderr.splitlines() if line.startswith("loaded:"))
    return set(line.removeprefix("loaded:").split()), done.stdout


def test_help_imports_none_of_the_heavy_libraries_nor_the_app():
    loaded, out = loaded_by("--help")

    assert "status" in out and "breaker" in out and "policy" in out  # every component's commands are listed
    assert loaded == set()


@pytest.mark.parametrize("command", [["breaker", "trip", "--help"], ["outbox", "list", "--help"],
                                     ["user", "add", "--help"], ["policy", "show", "--help"]])
def test_a_commands_help_builds_no_app_either(command):
    loaded, out = loaded_by(*command)

    assert "Usage: budgetbot" in out
    assert loaded == set()


def test_status_builds_the_app_without_the_heavy_libraries(tmp_path):
    from click.testing import CliRunner

    from bot.cli.main import main

    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    for args in (["db", "upgrade"], ["budget", "set", "PROJ-1", "200k"]):
        assert CliRunner().invoke(main, args, env={"BUDGETBOT_DATABASE_URL": url}).exit_code == 0

    loaded, out = loaded_by("status", "PROJ-1", env={"BUDGETBOT_DATABASE_URL": url})

    assert "PROJ-1  OK" in out and "200,000" in out  # it really built the app and read the ledger
    assert loaded & set(HEAVY) == set()


def test_the_choices_repeated_for_a_fast_help_are_the_real_ones():
    from bot.guardrails import breaker_store, breakers
    from bot.outbox import admin
    from bot.outbox import cli as outbox_cli
    from bot.reports import export
    from bot.reports.retro import cli as retro_cli
    from bot.web import users, users_cli

    assert breakers.SCOPES == breaker_store.SCOPES
    assert outbox_cli.STATES == admin.STATES
    assert users_cli.ROLES == users.ROLES
    assert retro_cli.GROUPS == export.GROUPS


def test_the_migration_heads_read_without_alembic_are_alembics():
    from bot.migrate import code_heads, declared_heads

    assert declared_heads() == code_heads()
