"""preflight() and guard() against the real app: allow, warn, block, fail-open and fail-closed."""

from __future__ import annotations

import asyncio
import time

import client_support
import pytest
from budgetbot_client import BudgetExceeded, Decision, current_guard
from client_support import ledger_rows, set_budget

live, make_client, token = client_support.live, client_support.make_client, client_support.token  # fixtures

USAGE = {"prompt_tokens": 600, "completion_tokens": 0}


def over_budget(budget, client, auth, key="PROJ-1"):
    set_budget(client, auth, key, tokens=1000)
    budget.record({"prompt_tokens": 1200, "completion_tokens": 0}, story=key, model="gpt-4o")
    assert budget.flush(10)


def test_allow_then_warn_then_block(make_client, client, auth):
    budget = make_client()
    set_budget(client, auth, "PROJ-1", tokens=1000)
    allowed = budget.preflight(story="PROJ-1", run_id="r1")
    assert (allowed.decision, allowed.reasons, allowed.raw["decision"]) == ("allow", (), "allow")

    budget.record({"prompt_tokens": 850, "completion_tokens": 0}, story="PROJ-1", model="gpt-4o")
    assert budget.flush(10)
    warned = budget.preflight(story="proj-1")
    assert warned.decision == "warn" and warned.allowed and warned.reached

    budget.record({"prompt_tokens": 200, "completion_tokens": 0}, story="PROJ-1", model="gpt-4o")
    assert budget.flush(10)
    blocked = budget.preflight(story="PROJ-1", agent="coder")
    assert blocked.blocked
    assert [(r.check, r.code, r.decision) for r in blocked.reasons] == [("story_budget", "story_budget", "block")]
    assert blocked.reasons[0].message == "PROJ-1 used 1,050 of 1,000 tokens"
    assert blocked.reservation_id is None and blocked.raw["decision"] == "block"


def test_an_estimate_reserves_headroom_and_the_usage_carrying_it_settles_it(make_client, live, client, auth):
    budget = make_client()
    set_budget(client, auth, "PROJ-1", tokens=10_000)
    assert budget.preflight(story="PROJ-1").reservation_id is None  # no estimate, nothing reserved

    reserved = budget.preflight(story="PROJ-1", run_id="r1", estimated_tokens=5000, estimated_usd=0.25)
    assert reserved.decision == "allow" and reserved.reservation_id
    assert live.requests.count("/api/v1/preflight") == 2  # the server knows estimates: asked once each
    # The reservation holds its 5,000 tokens: a second call that would not fit beside it is not allowed.
    assert budget.preflight(story="PROJ-1", run_id="r2", estimated_tokens=6000).decision != "allow"

    budget.record({"prompt_tokens": 100, "completion_tokens": 0}, story="PROJ-1", model="gpt-4o",
                  reservation_id=reserved.reservation_id)
    assert budget.flush(10)
    assert budget.preflight(story="PROJ-1", run_id="r3", estimated_tokens=6000).decision == "allow"


def test_fail_open_allows_with_a_warning_and_fail_closed_blocks(make_client, live, caplog):
    opened, closed = make_client(fail_open=True), make_client(fail_open=False)
    live.stop()

    started = time.perf_counter()
    allowed = opened.preflight(story="PROJ-1")
    assert time.perf_counter() - started < 2.5
    assert (allowed.decision, allowed.reached) == ("allow", False)
    assert allowed.reasons[0].check == "budgetbot_unreachable"
    assert any("could not be asked" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    refused = closed.preflight(story="PROJ-1")
    assert (refused.decision, refused.reached) == ("block", False)
    with pytest.raises(BudgetExceeded, match="budgetbot could not be asked"), closed.guard(story="PROJ-1"):
        pass


def test_a_503_is_the_same_as_unreachable(make_client, live):
    budget = make_client(fail_open=False)
    live.unavailable = True
    assert budget.preflight(story="PROJ-1").reasons[0].message.startswith("budgetbot could not be asked (HTTP 503")


def test_guard_raises_budget_exceeded_with_the_reasons(make_client, client, auth, db):
    budget = make_client()
    over_budget(budget, client, auth)

    with pytest.raises(BudgetExceeded) as raised, budget.guard(story="PROJ-1", agent="coder", run_id="r1"):
        pytest.fail("the body must not run when blocked")
    assert raised.value.reasons[0].check == "story_budget"
    assert "PROJ-1 used 1,200 of 1,000 tokens" in str(raised.value)
    assert len(ledger_rows(db)) == 1  # a refused call records nothing


def test_guard_records_the_usage_set_on_its_handle(make_client, db):
    budget = make_client()
    with budget.guard(story="PROJ-2", run_id="r7", model="gpt-4o") as call:
        assert call.decision.decision == "allow"
        call.record(USAGE, latency_ms=120)
    assert budget.flush(10)
    [row] = ledger_rows(db)
    assert (row.story_key, row.run_id, row.agent, row.model, row.input_tokens, row.latency_ms, row.outcome) == \
        ("PROJ-2", "r7", "coder", "gpt-4o", 600, 120, "ok")


def test_a_call_that_raises_inside_the_guard_is_recorded_as_an_error(make_client, db):
    budget = make_client()
    for _ in range(3):
        with pytest.raises(TimeoutError), budget.guard(story="PROJ-3", run_id="loop", model="gpt-4o"):
            raise TimeoutError("provider timed out")
    assert budget.flush(10)
    assert [r.outcome for r in ledger_rows(db)] == ["error"] * 3
    # Three failures in a row: budgetbot's runaway-loop breaker now stops the run.
    with pytest.raises(BudgetExceeded, match="consecutive_errors"), budget.guard(story="PROJ-3", run_id="loop"):
        pass


def test_guard_as_a_decorator_sync_and_async(make_client, client, auth, db):
    budget = make_client()

    @budget.guard(story="PROJ-4", model="gpt-4o", record_result=True)
    def step(n):
        assert current_guard() is not None
        return {"prompt_tokens": n, "completion_tokens": 1}

    @budget.guard(story="PROJ-4", model="gpt-4o")
    async def astep(n):
        current_guard().record({"prompt_tokens": n, "completion_tokens": 1})
        return "done"

    assert step(600) == {"prompt_tokens": 600, "completion_tokens": 1}
    assert asyncio.run(astep(500)) == "done"
    assert budget.flush(10)
    assert sorted(r.input_tokens for r in ledger_rows(db)) == [500, 600]

    set_budget(client, auth, "PROJ-4", tokens=1000)
    with pytest.raises(BudgetExceeded):
        step(1)
    with pytest.raises(BudgetExceeded):
        asyncio.run(astep(1))
    assert current_guard() is None
