"""The policy file: mistakes named with key and line, start-up refuses a bad file, check/show, live reloads."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest

from bot.app import create_app
from bot.config import ConfigError
from bot.guardrails.policy_file import PolicyError, parse_policy

EXAMPLE = """\
warn_at = 0.8

[run]
max_tokens = 50_000
max_usd = 2.5

[day]
max_usd = 20

[org_day]
max_calls = 10_000

[month]
budget_usd = 5000

[agents.coder.run]
max_tokens = 100_000

[projects.PROJ.run]
max_tool_calls = 50
"""


def mistake(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.toml")
    return str(caught.value)


def test_a_wrong_type_names_the_key_and_the_line():
    assert mistake('[run]\nmax_usd = 1\nmax_tokens = "lots"\n') == (
        "policy.toml: `run.max_tokens` must be an integer, line 3")


def test_other_mistakes_are_named_too():
    assert mistake("[run]\nmax_tokns = 4\n") == (
        "policy.toml: `run.max_tokns` is not a known key (did you mean 'max_tokens'?), line 2")
    assert mistake("[runs]\nmax_tokens = 4\n") == "policy.toml: `runs` is not a known key (did you mean 'run'?), line 1"
    assert mistake("[agents.coder.day]\nmax_usd = true\n") == (
        "policy.toml: `agents.coder.day.max_usd` must be a number, line 2")
    assert mistake("[run]\nmax_tool_calls = 0\n") == "policy.toml: `run.max_tool_calls` must be greater than 0, line 2"
    assert mistake("[month]\nblock_at = 1.5\n") == "policy.toml: `month.block_at` must be at most 1, line 2"
    assert "warn_at must not be above block_at" in mistake("[month]\nblock_at = 0.5\nwarn_at = 0.7\n")
    assert mistake("[run\nmax_tokens = 1\n").startswith("policy.toml: not valid TOML")
    assert mistake("run = 5\n") == "policy.toml: `run` must be a table, line 1"


def test_dotted_keys_and_several_mistakes_in_file_order():
    text = "run.max_tokens = 'x'\n\n[projects.PROJ]\nrun = { max_usd = 'free' }\n"
    assert mistake(text) == ("policy.toml: `run.max_tokens` must be an integer, line 1; "
                             "`projects.PROJ.run.max_usd` must be a number, line 4")


def test_the_example_is_valid():
    parse_policy(EXAMPLE)


def test_a_bad_file_stops_the_app_and_the_cli_with_one_line(tmp_path, db_url, cli):
    path = tmp_path / "policy.toml"
    path.write_text('[run]\nmax_tokens = "lots"\n')

    with pytest.raises(ConfigError, match=r"`run.max_tokens` must be an integer, line 2"):
        create_app({"database_url": db_url, "policy_file": str(path)})
    result = cli("status", "PROJ-1", env={"BUDGETBOT_POLICY_FILE": str(path)})
    assert result.exit_code != 0 and result.output.count("\n") == 1 and "line 2" in result.output


def test_policy_check_and_show(tmp_path, cli):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(EXAMPLE)
    bad.write_text("[day]\nmax_calls = 1.5\n")

    assert cli("policy", "check", str(good)).output == f"{good}: ok\n"
    failed = cli("policy", "check", str(bad))
    assert failed.exit_code == 1 and "`day.max_calls` must be an integer, line 2" in failed.output
    assert cli("policy", "check", str(tmp_path / "missing.toml")).exit_code == 1

    shown = cli("policy", "show", "--agent", "coder", "--story", "proj-7",
                env={"BUDGETBOT_POLICY_FILE": str(good), "BUDGETBOT_RUN_MAX_TOOL_CALLS": "99"}).output
    lines = {line.split()[0]: line.split()[1:] for line in shown.splitlines()[2:]}
    assert lines["run_max_tokens"] == ["100,000", "agents.coder"]
    assert lines["run_max_tool_calls"] == ["50", "projects.PROJ"]
    assert lines["run_max_usd"] == ["$2.5", "policy"]
    assert lines["org_day_max_calls"] == ["10,000", "policy"]
    assert lines["month_block_at"] == ["90%", "policy"]


@pytest.fixture
def policy_path(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[run]\nmax_tokens = 1000\n")
    return path


@pytest.fixture
def settings_overrides(db_url, policy_path):
    return {"database_url": db_url, "policy_file": str(policy_path)}


def cap(client, auth) -> int | None:
    client.post("/api/v1/usage", json={"event_id": "e1", "model": "gpt-4o", "run_id": "r1", "input_tokens": 900,
                                       "output_tokens": 0}, headers=auth)
    answer = client.post("/api/v1/preflight", json={"run_id": "r1"}, headers=auth).json
    return answer["reasons"][0]["limit"] if answer["reasons"] else None


def test_a_changed_file_is_picked_up_and_a_broken_one_keeps_the_last_good_policy(client, auth, policy_path, caplog):
    assert cap(client, auth) == 1000
    policy_path.write_text("[run]\nmax_tokens = 1100\n")
    assert cap(client, auth) == 1100

    policy_path.write_text('[run]\nmax_tokens = "oops"\n')
    assert cap(client, auth) == 1100
    assert "NOT reloaded" in caplog.text and "`run.max_tokens` must be an integer, line 2" in caplog.text


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_rereads_the_file(client, auth, policy_path):
    assert cap(client, auth) == 1000
    stat = policy_path.stat()
    policy_path.write_text("[run]\nmax_tokens = 1050\n")  # same size, and the old mtime put back
    os.utime(policy_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cap(client, auth) == 1000

    os.kill(os.getpid(), signal.SIGHUP)
    assert cap(client, auth) == 1050


def test_the_documented_example_is_valid():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "guardrails.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    document = parse_policy(example)
    assert document.agents["reviewer"].day.max_usd == 5 and document.month.block_at == Decimal("0.9")
