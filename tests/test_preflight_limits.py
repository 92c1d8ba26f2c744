"""Each preflight limit of the policy file triggered and cleared: story, run, agent day, organisation day, month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from bot.db import utcnow
from bot.guardrails.blocks import blocked_calls, summary_line
from bot.guardrails.judgement import decide, judge
from bot.guardrails.policy import Limits
from bot.guardrails.preflight import current_policy, run_preflight
from bot.guardrails.shapes import Figures, PreflightIn, Spent, StoryFigures


@pytest.fixture
def policy_path(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("# no caps yet\n")
    return path


@pytest.fixture
def settings_overrides(db_url, policy_path):
    return {"database_url": db_url, "policy_file": str(policy_path), "timezone": "Europe/Berlin"}


def ask(client, auth, **body):
    response = client.post("/api/v1/preflight", json=body, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def spend(client, auth, event_id, **fields):
    body = {"event_id": event_id, "model": "gpt-4o", "input_tokens": 100, "output_tokens": 0, **fields}
    response = client.post("/api/v1/usage", json=body, headers=auth)
    assert response.status_code == 200, response.json


def codes(answer, decision=None):
    return [r["code"] for r in answer["reasons"] if decision is None or r["decision"] == decision]


def test_story_dollar_budget_blocks_and_a_higher_budget_clears_it(client, auth):
    client.put("/api/v1/stories/PROJ-1/budget", json={"usd": "$1"}, headers=auth)
    spend(client, auth, "a", story="PROJ-1", cost_usd="1.20")

    blocked = ask(client, auth, story="PROJ-1")
    assert blocked["decision"] == "block" and codes(blocked) == ["story_budget_usd"]
    assert blocked["reasons"][0]["message"] == "PROJ-1 used $1.2 of $1"
    assert blocked["remaining"]["story"] == {"tokens": None, "usd": "0"}

    client.put("/api/v1/stories/PROJ-1/budget", json={"usd": "$10"}, headers=auth)
    cleared = ask(client, auth, story="PROJ-1")
    assert cleared["decision"] == "allow" and cleared["remaining"]["story"]["usd"] == "8.8"


def test_run_dollar_tool_call_and_wall_time_caps(client, auth, policy_path):
    policy_path.write_text("[run]\nmax_usd = 0.5\nmax_tool_calls = 10\nmax_wall_minutes = 30\n")
    start = (utcnow() - timedelta(minutes=40)).isoformat()
    spend(client, auth, "a", run_id="r-7", cost_usd="0.10", tool_calls=4, occurred_at=start)
    assert ask(client, auth, run_id="r-7")["reasons"][0]["code"] == "run_wall_time"

    spend(client, auth, "b", run_id="r-8", cost_usd="0.45", tool_calls=10)
    answer = ask(client, auth, run_id="r-8")
    assert codes(answer, "block") == ["run_tool_calls"] and codes(answer, "warn") == ["run_usd"]
    assert answer["remaining"]["run"] == {"tokens": None, "usd": "0.05"}

    policy_path.write_text("[run]\nmax_usd = 5\nmax_tool_calls = 100\n")  # raised in the file: live
    assert ask(client, auth, run_id="r-8")["decision"] == "allow"
    assert ask(client, auth, run_id="r-7")["decision"] == "allow"


def test_agent_override_of_the_consecutive_error_limit(client, auth, policy_path):
    policy_path.write_text("[run]\nmax_consecutive_errors = 2\n[agents.retrier.run]\nmax_consecutive_errors = 4\n")
    for i in range(3):
        spend(client, auth, f"e{i}", run_id="r1", agent="retrier", outcome="error",
              occurred_at=f"2026-11-02T10:00:0{i}Z")
        spend(client, auth, f"f{i}", run_id="r2", agent="coder", outcome="error",
              occurred_at=f"2026-11-02T10:00:0{i}Z")

    assert ask(client, auth, run_id="r1", agent="retrier")["decision"] == "allow"
    blocked = ask(client, auth, run_id="r2", agent="coder")
    assert blocked["reasons"][0] | {"message": ""} == {
        "code": "consecutive_errors", "check": "consecutive_errors", "decision": "block", "limit": 2, "figure": 3,
        "unit": "errors", "message": ""}


def test_agent_daily_tokens_block_that_agent_until_the_next_local_day(app, client, auth, db, policy_path):
    policy_path.write_text("[day]\nmax_tokens = 1000\n[agents.bulk.day]\nmax_tokens = 100000\n")
    spend(client, auth, "a", agent="coder", input_tokens=1000)
    spend(client, auth, "b", agent="bulk", input_tokens=5000)

    blocked = ask(client, auth, agent="coder")
    assert codes(blocked) == ["agent_day_tokens"] and blocked["decision"] == "block"
    assert ask(client, auth, agent="reviewer")["decision"] == "allow"
    assert ask(client, auth, agent="bulk")["remaining"]["day"]["tokens"] == 95_000

    tomorrow = utcnow() + timedelta(days=1)
    with app.app_context():
        answer = run_preflight(db, PreflightIn(agent="coder"), app.config["SETTINGS"], current_policy(app),
                               now=tomorrow)
    assert answer["decision"] == "allow"


def test_the_day_is_the_teams_local_day(app, client, auth, db, policy_path):
    policy_path.write_text("[org_day]\nmax_calls = 2\n")
    # 23:30 UTC on 1 December is already 2 December in Berlin. Reported at noon on the 2nd: not in the future.
    with time_machine.travel(datetime(2026, 12, 2, 12, tzinfo=UTC), tick=False):
        spend(client, auth, "late", occurred_at="2026-12-01T23:30:00Z")
        spend(client, auth, "later", occurred_at="2026-12-02T08:00:00Z")

    def decision(at: datetime) -> dict:
        with app.app_context():
            return run_preflight(db, PreflightIn(agent="x"), app.config["SETTINGS"], current_policy(app), now=at)

    on_the_2nd = decision(datetime(2026, 12, 2, 12, tzinfo=UTC))
    assert codes(on_the_2nd) == ["org_day_calls"]
    assert on_the_2nd["reasons"][0]["message"] == "the organisation on 2026-12-02 used 2 of 2 calls"
    assert decision(datetime(2026, 12, 1, 12, tzinfo=UTC))["decision"] == "allow"


def test_organisation_daily_dollars_block_everyone(client, auth, policy_path):
    policy_path.write_text("[org_day]\nmax_usd = 2\n")
    spend(client, auth, "a", agent="coder", cost_usd="1.70")
    assert codes(ask(client, auth, agent="reviewer"), "warn") == ["org_day_usd"]

    spend(client, auth, "b", agent="reviewer", cost_usd="0.30")
    assert codes(ask(client, auth, agent="someone-else"), "block") == ["org_day_usd"]


def test_monthly_budget_warns_early_and_blocks_at_ninety_percent(client, auth, policy_path):
    policy_path.write_text("[month]\nbudget_usd = 10\nwarn_at = 0.5\n")
    spend(client, auth, "a", cost_usd="6")
    warned = ask(client, auth, agent="coder")
    assert codes(warned, "warn") == ["month_usd"] and warned["remaining"]["month"] == {"usd": "3"}

    spend(client, auth, "b", cost_usd="3")
    blocked = ask(client, auth, agent="coder")
    assert codes(blocked, "block") == ["month_usd"]
    assert blocked["reasons"][0]["message"].endswith("used $9 of $10 (blocks at $9)")

    policy_path.write_text("[month]\nbudget_usd = 10\nblock_at = 1.0\n")  # cleared: the hard cap moved to 100%
    again = ask(client, auth, agent="coder")
    assert again["decision"] == "warn", again


def test_project_and_label_overrides_and_the_agent_wins(client, auth, cli, policy_path):
    policy_path.write_text("[run]\nmax_tokens = 1000\n[projects.PROJ.run]\nmax_tokens = 2000\n"
                           "[labels.spike.run]\nmax_tokens = 5000\n[agents.coder.run]\nmax_tokens = 800\n")
    assert cli("policy", "labels", "PROJ-2", "spike").exit_code == 0
    spend(client, auth, "a", run_id="r1", input_tokens=1700)

    assert ask(client, auth, run_id="r1", story="OTHER-1")["decision"] == "block"
    assert ask(client, auth, run_id="r1", story="PROJ-1")["decision"] == "warn"  # 1,700 of 2,000
    assert ask(client, auth, run_id="r1", story="PROJ-2")["decision"] == "allow"  # 1,700 of 5,000
    assert ask(client, auth, run_id="r1", story="PROJ-2", agent="coder")["decision"] == "block"


def test_an_estimate_that_does_not_fit_is_blocked(client, auth):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 1000}, headers=auth)
    spend(client, auth, "a", story="PROJ-1", input_tokens=700)

    too_big = ask(client, auth, story="PROJ-1", estimated_tokens=400)
    assert too_big["decision"] == "block" and too_big["reservation_id"] is None
    assert "this call's estimated 400 tokens would pass 1,000 tokens" in too_big["reasons"][0]["message"]
    fits = ask(client, auth, story="PROJ-1", estimated_tokens=50)
    assert fits["decision"] == "allow" and fits["remaining"]["story"]["tokens"] == 300  # before this call


def test_every_block_is_recorded_for_the_story_page_and_the_digest(client, auth, db, cli):
    cli("breaker", "trip", "story", "PROJ-3", "--reason", "stop", "--by", "alice")
    client.put("/api/v1/stories/PROJ-4/budget", json={"tokens": 100}, headers=auth)
    spend(client, auth, "a", story="PROJ-4", input_tokens=500)
    ask(client, auth, story="PROJ-3", agent="coder", run_id="r1", model="gpt-4o")
    ask(client, auth, story="PROJ-4", agent="coder")
    ask(client, auth, story="PROJ-4", agent="coder", estimated_tokens=10)
    ask(client, auth, story="PROJ-5")  # allowed: not recorded

    with db.session_factory() as session:
        mine = blocked_calls(session, story_key="PROJ-3")
        everything = blocked_calls(session)
        line = summary_line(session, utcnow() - timedelta(days=1), utcnow() + timedelta(seconds=1))
    assert len(everything) == 3
    assert mine[0] | {"at": None} == {
        "at": None, "story": "PROJ-3", "agent": "coder", "run_id": "r1", "model": "gpt-4o", "asked_by": "test-agent",
        "codes": ["kill_switch"], "reasons": [{"code": "kill_switch", "decision": "block", "limit": None,
                                                "figure": None, "unit": None,
                                                "message": "kill switch on story PROJ-3: stop (by alice)"}]}
    assert line == "3 calls blocked yesterday (2 story budget, 1 kill switch)"


def test_an_approved_override_is_honoured_and_unpriced_spend_warns_or_blocks():
    story = StoryFigures("PROJ-1", "overridden", 1000, None, Spent(tokens=5000))
    figures = Figures(now=utcnow(), day="2026-12-01", month="2026-12", story=story)
    reasons = judge(figures, Limits())
    assert [(r.code, r.decision) for r in reasons] == [("story_overridden", "warn")]

    unpriced = Figures(now=utcnow(), day="2026-12-01", month="2026-12",
                       story=StoryFigures("PROJ-2", "unpriced", None, None, Spent()))
    assert decide(judge(unpriced, Limits())) == "warn"
    assert decide(judge(unpriced, Limits(), block_unpriced=True)) == "block"


def test_limits_default_to_the_environment_variables():
    class Env:
        warn_threshold, max_consecutive_errors = Decimal("0.7"), 5
        run_max_tokens, run_max_tool_calls, run_max_usd = 10_000, None, Decimal("2")

    from bot.guardrails.policy import Policy

    limits = Policy(Env()).limits("coder", "PROJ", ("x",))
    assert (limits.run_max_tokens, limits.run_max_nano_usd, limits.max_consecutive_errors, limits.warn_at) == (
        10_000, 2 * 10**9, 5, Decimal("0.7"))
    assert limits.source["run_max_tokens"] == "environment"


def test_the_digest_and_the_retro_say_how_many_calls_were_blocked(app, client, auth, db, cli):
    from zoneinfo import ZoneInfo

    from bot.guardrails.blocks import digest_line, retro_section
    from bot.reports.scrum.digest import build
    from bot.reports.scrum.digest_data import load

    cli("breaker", "trip", "run", "r1", "--reason", "loop")
    for _ in range(3):
        ask(client, auth, run_id="r1", story="PROJ-1")
    now = utcnow()
    tz = ZoneInfo("Europe/Berlin")
    today = now.astimezone(tz).date()
    with db.session_factory() as session:
        assert digest_line(session, today, today, tz, today + timedelta(days=1)) == (
            "3 calls blocked yesterday (3 kill switch)")
        assert digest_line(session, today - timedelta(days=1), today - timedelta(days=1), tz, today) is None
        retro = retro_section(session, now - timedelta(days=1), now + timedelta(seconds=1), "PROJ")
        digest = build(load(session, app.config["SETTINGS"], now + timedelta(days=1)))
    assert retro["blocked_calls"] == 3 and retro["summary"] == "Preflight blocked 3 calls: 3 kill switch."
    assert any("3 calls blocked yesterday" in str(block) for block in digest.blocks)


@time_machine.travel(datetime(2026, 12, 15, 12, tzinfo=UTC), tick=False)
def test_the_day_and_month_caps_read_the_ledgers_rollups_so_a_void_gives_the_spend_back(client, auth, policy_path):
    policy_path.write_text("[org_day]\nmax_usd = 5\n[month]\nbudget_usd = 100\n")
    spend(client, auth, "a", agent="coder", cost_usd="3")
    spend(client, auth, "b", agent="reviewer", cost_usd="2")
    spend(client, auth, "c", agent="coder", cost_usd="10", occurred_at="2026-12-14T12:00:00Z")  # the month's only
    spend(client, auth, "d", agent="coder", cost_usd="40", occurred_at="2026-11-30T12:00:00Z")  # last month
    blocked = ask(client, auth, agent="tester")
    assert codes(blocked, "block") == ["org_day_usd"]
    assert blocked["remaining"]["month"] == {"usd": "75"}  # blocks at 90%: $90 - $15

    voided = client.post("/api/v1/events/a/void", json={"by": "alice", "reason": "a test run"}, headers=auth)
    assert voided.status_code == 200, voided.json
    again = ask(client, auth, agent="tester")
    assert again["decision"] == "allow" and again["remaining"]["day"] == {"tokens": None, "usd": "3"}
    assert again["remaining"]["month"] == {"usd": "78"}


