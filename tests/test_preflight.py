"""POST /api/v1/preflight: kill switches, story budget, per-run caps and the runaway-loop signature."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.db import utcnow
from bot.guardrails.judgement import decide, judge
from bot.guardrails.policy import Limits
from bot.guardrails.shapes import BLOCK, WARN, Figures, Reason, RunFigures, Spent


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "run_max_tokens": 10_000, "run_max_tool_calls": 20}


def ask(client, auth, **body):
    response = client.post("/api/v1/preflight", json=body, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def spend(client, auth, event_id, **fields):
    body = {"event_id": event_id, "model": "gpt-4o", "input_tokens": 100, "output_tokens": 0, **fields}
    assert client.post("/api/v1/usage", json=body, headers=auth).status_code == 200


def test_a_fresh_run_is_allowed(client, auth):
    answer = ask(client, auth, story="PROJ-1", agent="coder", run_id="r1")

    assert (answer["decision"], answer["reasons"], answer["story_status"]) == ("allow", [], "no_budget")
    assert answer["reservation_id"] is None  # no estimate, nothing reserved


def test_over_budget_story_blocks_and_warning_warns(client, auth):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 1000}, headers=auth)
    spend(client, auth, "a", story="PROJ-1", input_tokens=850)
    assert ask(client, auth, story="proj-1")["decision"] == "warn"

    spend(client, auth, "b", story="PROJ-1", input_tokens=200)

    answer = ask(client, auth, story="PROJ-1")
    assert answer["decision"] == "block"
    assert answer["reasons"][0]["check"] == "story_budget"


def test_run_token_cap(client, auth):
    spend(client, auth, "a", run_id="r1", input_tokens=8_500)
    assert ask(client, auth, run_id="r1")["decision"] == "warn"

    spend(client, auth, "b", run_id="r1", input_tokens=1_500)

    assert ask(client, auth, run_id="r1")["reasons"] == [
        {"code": "run_tokens", "check": "run_tokens", "decision": "block", "limit": 10_000, "figure": 10_000,
         "unit": "tokens", "message": "run r1 used 10,000 of 10,000 tokens"}]
    assert ask(client, auth, run_id="another-run")["decision"] == "allow"


def test_three_errors_in_a_row_block_the_run_but_a_success_resets(client, auth):
    for i in range(2):
        spend(client, auth, f"e{i}", run_id="r1", outcome="error", occurred_at=f"2026-11-02T10:00:0{i}Z")
    assert ask(client, auth, run_id="r1")["decision"] == "allow"

    spend(client, auth, "e2", run_id="r1", outcome="error", occurred_at="2026-11-02T10:00:02Z")
    assert ask(client, auth, run_id="r1")["reasons"][0]["check"] == "consecutive_errors"

    spend(client, auth, "ok", run_id="r1", outcome="ok", occurred_at="2026-11-02T10:00:03Z")
    assert ask(client, auth, run_id="r1")["decision"] == "allow"


def test_kill_switch_from_the_cli(client, auth, cli):
    cli("breaker", "trip", "agent", "coder", "--reason", "looping on PROJ-9", "--by", "alice")

    blocked = ask(client, auth, agent="coder", story="PROJ-1")
    other = ask(client, auth, agent="reviewer")
    assert blocked["decision"] == "block" and "looping on PROJ-9" in blocked["reasons"][0]["message"]
    assert other["decision"] == "allow"
    assert "TRIPPED" in cli("breaker", "list").output

    cli("breaker", "clear", "agent", "coder")
    assert ask(client, auth, agent="coder")["decision"] == "allow"


def test_kill_everything(client, auth, cli):
    cli("breaker", "trip", "all", "--reason", "monthly budget gone")

    assert ask(client, auth)["decision"] == "block"


def test_breaker_cli_errors(cli):
    assert cli("breaker", "trip", "story", "--reason", "x").exit_code != 0
    assert cli("breaker", "trip", "story", "not a key", "--reason", "x").exit_code != 0
    assert "no tripped breaker" in cli("breaker", "clear", "run", "r9").output


def test_bad_preflight_requests_are_named(client, auth):
    response = client.post("/api/v1/preflight", json={"story": "nope", "agnet": "x"}, headers=auth)

    assert response.status_code == 400
    assert {e["path"] for e in response.json["errors"]} == {"story", "agnet"}
    assert client.post("/api/v1/preflight", json={}).status_code == 401


def test_run_rules_are_pure_and_strictest_wins():
    run = RunFigures("r1", Spent(tokens=100), tool_calls=25, errors_since_ok=0)
    figures = Figures(now=utcnow(), day="2026-12-01", month="2026-12", run=run)
    reasons = judge(figures, Limits(run_max_tool_calls=20, max_consecutive_errors=3, warn_at=Decimal("0.8")))

    assert [r.check for r in reasons] == ["run_tool_calls"]
    assert decide([Reason("a", WARN, ""), Reason("b", BLOCK, "")]) == BLOCK
    assert decide([]) == "allow"
