"""BudgetbotGuard with the real litellm package in-process (mock_response: no provider is ever called)."""

from __future__ import annotations

import asyncio
import os

# LiteLLM fetches its price list from the internet at import unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import client_support
import litellm
import pytest
from budgetbot_client.litellm import BudgetbotBlocked, BudgetbotGuard, attribution
from client_support import ledger_count, ledger_rows, set_budget, wait_for
from litellm.caching import DualCache
from litellm.proxy._types import UserAPIKeyAuth

live, make_client, token = client_support.live, client_support.make_client, client_support.token  # fixtures

# LiteLLM's own types trip a pydantic notice on import-time schema building: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Item.*ReadOnly:UserWarning")
MESSAGES = [{"role": "user", "content": "fix the flaky test"}]


@pytest.fixture
def guard(make_client, monkeypatch):
    """A BudgetbotGuard registered as LiteLLM's only callback for this test (LiteLLM keeps them globally)."""
    guard = BudgetbotGuard(make_client(agent="litellm-agent"))
    for name in ("input_callback", "success_callback", "failure_callback", "_async_success_callback",
                 "_async_failure_callback"):
        monkeypatch.setattr(litellm, name, [])
    monkeypatch.setattr(litellm, "callbacks", [guard])
    return guard


def run(guard, call):
    """Run an async LiteLLM call, then let LiteLLM's logging task (scheduled on the same loop) finish."""
    async def main():
        try:
            return await call
        finally:
            deadline = asyncio.get_running_loop().time() + 5
            while not guard._recorded and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
    return asyncio.run(main())


def over_budget(guard, client, auth, key="PROJ-1"):
    set_budget(client, auth, key, tokens=1000)
    guard.client.record({"prompt_tokens": 1500, "completion_tokens": 0}, story=key, model="gpt-4o")
    assert guard.client.flush(10)


def test_async_call_to_an_over_budget_story_is_refused_with_the_reasons(guard, client, auth, db):
    over_budget(guard, client, auth)

    with pytest.raises(litellm.BudgetExceededError) as refused:
        asyncio.run(litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="never",
                                        metadata={"story": "PROJ-1"}))

    assert isinstance(refused.value, BudgetbotBlocked)
    assert "story_budget: PROJ-1 used 1,500 of 1,000 tokens" in str(refused.value)
    assert [r.check for r in refused.value.reasons] == ["story_budget"]
    assert guard.client.flush(10)
    assert ledger_count(db) == 1  # only the spend that put it over: the refused call is not recorded


def test_async_call_within_budget_is_recorded_exactly_once(guard, client, auth, db, live):
    set_budget(client, auth, "PROJ-2", tokens=100_000)

    response = run(guard, litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="done",
                                              metadata={"story": "PROJ-2", "run_id": "run-1"}))

    assert response.choices[0].message.content == "done"
    assert guard.client.flush(10)
    [row] = ledger_rows(db)
    usage = response.usage
    assert (row.story_key, row.run_id, row.agent, row.model, row.outcome) == \
        ("PROJ-2", "run-1", "litellm-agent", "gpt-4o", "ok")
    assert (row.input_tokens, row.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert row.price_source == "client" and row.cost_nano_usd > 0  # LiteLLM's response_cost, as cost_usd
    assert row.event_id.startswith("litellm-")
    assert live.requests.count("/api/v1/preflight") == 1


def test_sync_sdk_call_is_recorded_once_and_completion_checks_first(guard, client, auth, db):
    litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response="ok", metadata={"tags": ["story:PROJ-3"]})
    wait_for(lambda: guard.client.flush(1) and ledger_count(db) == 1, message="the sync success callback")
    assert ledger_rows(db)[0].story_key == "PROJ-3"

    over_budget(guard, client, auth, "PROJ-3")
    with pytest.raises(BudgetbotBlocked, match="PROJ-3 used 1,530 of 1,000 tokens"):
        guard.completion(model="gpt-4o", messages=MESSAGES, mock_response="never", metadata={"story": "PROJ-3"})
    assert guard.client.flush(10)
    assert ledger_count(db) == 2


def test_proxy_pre_call_hook_refuses_with_litellms_error(guard, client, auth, live):
    over_budget(guard, client, auth, "PROJ-4")
    data = {"model": "gpt-4o", "messages": MESSAGES, "metadata": {},
            "proxy_server_request": {"headers": {"X-Budgetbot-Story": "PROJ-4", "x-budgetbot-agent": "coder"}}}

    with pytest.raises(litellm.BudgetExceededError, match="PROJ-4 used 1,500 of 1,000 tokens"):
        asyncio.run(guard.async_pre_call_hook(UserAPIKeyAuth(), DualCache(), data, "completion"))

    # The proxy gives every request a litellm_call_id before its hooks run.
    allowed = {"model": "gpt-4o", "messages": MESSAGES, "metadata": {"tags": ["story:PROJ-5"]},
               "litellm_call_id": "call-1"}
    assert asyncio.run(guard.async_pre_call_hook(UserAPIKeyAuth(), DualCache(), allowed, "completion")) is allowed
    asked = live.requests.count("/api/v1/preflight")
    # The router's deployment hook that follows does not ask a second time.
    assert asyncio.run(guard.async_pre_call_deployment_hook(allowed, "acompletion")) is None
    assert live.requests.count("/api/v1/preflight") == asked


def test_every_call_is_asked_even_when_the_caller_reuses_its_metadata(guard, client, auth, live):
    metadata = {"story": "PROJ-7"}
    run(guard, litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="a", metadata=metadata))
    over_budget(guard, client, auth, "PROJ-7")
    with pytest.raises(BudgetbotBlocked):
        asyncio.run(litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="b", metadata=metadata))
    assert live.requests.count("/api/v1/preflight") == 2


def test_a_failed_call_is_recorded_as_an_error(guard, db):
    with pytest.raises(litellm.RateLimitError):
        run(guard, litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="litellm.RateLimitError",
                                       metadata={"story": "PROJ-6", "run_id": "r9"}, num_retries=0))
    wait_for(lambda: guard.client.flush(1) and ledger_count(db) == 1, message="the failure callback")
    [row] = ledger_rows(db)
    assert (row.story_key, row.run_id, row.outcome, row.input_tokens) == ("PROJ-6", "r9", "error", 0)


def test_require_story_refuses_unattributed_calls(make_client, monkeypatch):
    strict = BudgetbotGuard(make_client(), require_story=True)
    with pytest.raises(BudgetbotBlocked, match="no story for this call"):
        strict.check(model="gpt-4o", messages=MESSAGES)


def test_attribution_from_metadata_tags_and_headers():
    assert attribution({"metadata": {"story": "PROJ-1", "agent": "a", "run_id": "r"}}).story == "PROJ-1"
    assert attribution({"tags": ["team:x", "story:PROJ-2", "run:r2"]}) == \
        attribution({"litellm_params": {"metadata": {"tags": ["story:PROJ-2", "run:r2"]}}})
    assert attribution({"metadata": {"headers": {"x-budgetbot-story": "PROJ-3"}}}).story == "PROJ-3"
    assert attribution({"standard_logging_object": {"request_tags": ["story:PROJ-4"]}}).story == "PROJ-4"
    assert attribution({}).story is None
