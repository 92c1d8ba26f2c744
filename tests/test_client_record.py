"""budgetbot_client.record() against the real app over HTTP: provider shapes, batching and idempotency."""

from __future__ import annotations

import time

import client_support
import pytest
from anthropic.types import Message
from budgetbot_client import BudgetClient, usage_fields
from client_support import ledger_count, ledger_rows, story
from google.genai import types as genai
from openai.types.chat import ChatCompletion
from openai.types.responses import ResponseUsage

live, make_client, token = client_support.live, client_support.make_client, client_support.token  # fixtures


def openai_chat(prompt=5000, completion=200, cached=4096, model="gpt-4o-2024-08-06") -> ChatCompletion:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1764547200, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": None},
                  "completion_tokens_details": {"reasoning_tokens": 0}}})


def anthropic_message() -> Message:
    return Message.model_validate({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 400, "cache_creation_input_tokens": 2000,
                  "cache_read_input_tokens": 30000, "service_tier": "standard"}})


def gemini_response() -> genai.GenerateContentResponse:
    return genai.GenerateContentResponse.model_validate({
        "model_version": "gemini-2.5-pro",
        "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}}],
        "usage_metadata": {"prompt_token_count": 12000, "candidates_token_count": 500,
                           "cached_content_token_count": 8000, "thoughts_token_count": 300,
                           "total_token_count": 12800}})


def test_openai_anthropic_and_gemini_responses_land_in_the_ledger(make_client, db, client, auth):
    budget = make_client()
    budget.record(openai_chat(), story="proj-1", run_id="r1", latency_ms=850, tool_calls=2,
                  attributes={"team": "payments"})
    budget.record(anthropic_message(), story="PROJ-1", run_id="r1")
    budget.record(gemini_response(), story="PROJ-1", run_id="r1")
    assert budget.flush(10)

    rows = {r.model: r for r in ledger_rows(db)}
    assert set(rows) == {"gpt-4o-2024-08-06", "claude-sonnet-4-5", "gemini-2.5-pro"}
    gpt, claude, gemini = rows["gpt-4o-2024-08-06"], rows["claude-sonnet-4-5"], rows["gemini-2.5-pro"]
    assert (gpt.input_tokens, gpt.output_tokens, gpt.cache_read_tokens) == (5000, 200, 4096)
    assert (gpt.story_key, gpt.agent, gpt.run_id, gpt.latency_ms, gpt.tool_calls) == ("PROJ-1", "coder", "r1", 850, 2)
    assert gpt.attributes == {"team": "payments"}
    # Anthropic's input excludes cache; budgetbot's includes it.
    assert (claude.input_tokens, claude.cache_read_tokens, claude.cache_write_tokens) == (32900, 30000, 2000)
    # Gemini: thinking is billed as output and kept as reasoning.
    assert (gemini.input_tokens, gemini.output_tokens, gemini.cache_read_tokens, gemini.reasoning_tokens) == \
        (12000, 800, 8000, 300)

    totals = story(client, auth, "PROJ-1")
    assert totals["events"] == 3
    assert totals["spent"]["tokens"] == 5200 + 33300 + 12800
    assert {m["name"]: m["tokens"] for m in totals["by_model"]}["gemini-2.5-pro"] == 12800
    assert totals["unpriced_events"] == 0


def test_usage_objects_and_dicts_are_accepted_with_the_model_given(make_client, db):
    budget = make_client()
    responses_usage = ResponseUsage.model_validate({
        "input_tokens": 100, "output_tokens": 50, "total_tokens": 150,
        "input_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 10}})
    budget.record(responses_usage, story="PROJ-2", model="gpt-5")
    budget.record({"prompt_tokens": 10, "completion_tokens": 5}, story="PROJ-2", model="gpt-4o")
    budget.record({"promptTokenCount": 40, "candidatesTokenCount": 2}, story="PROJ-2", model="gemini-2.5-flash")
    assert budget.flush(10)

    rows = {r.model: r for r in ledger_rows(db)}
    gpt5 = rows["gpt-5"]
    assert (gpt5.input_tokens, gpt5.cache_read_tokens, gpt5.reasoning_tokens) == (100, 20, 10)
    assert (rows["gpt-4o"].input_tokens, rows["gpt-4o"].output_tokens) == (10, 5)
    assert (rows["gemini-2.5-flash"].input_tokens, rows["gemini-2.5-flash"].output_tokens) == (40, 2)


def test_a_retry_with_the_same_event_id_counts_once(make_client, db, client, auth):
    budget = make_client()
    first = budget.record(openai_chat(), story="PROJ-3")
    again = budget.record(openai_chat(), story="PROJ-3", event_id=first)
    assert first == again
    assert budget.flush(10)
    # The whole client resending its spool (a crash before it heard the answer) counts once too.
    other = make_client(spool_path=None)
    other.record(openai_chat(), story="PROJ-3", event_id=first, occurred_at=ledger_rows(db)[0].occurred_at)
    assert other.flush(10)

    assert ledger_count(db) == 1
    assert story(client, auth, "PROJ-3")["events"] == 1


def test_events_are_batched_and_none_is_lost(make_client, db, live):
    budget = make_client()
    for i in range(2500):
        budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="PROJ-4", model="gpt-4o", event_id=f"e{i}")
    assert budget.flush(30)

    assert ledger_count(db) == 2500
    posts = [p for p in live.requests if p == "/api/v1/usage"]
    assert len(posts) < 2500 / 2  # batched, at most 1,000 a request


def test_a_bad_event_is_dropped_and_logged_once_the_rest_of_the_batch_lands(make_client, db, caplog):
    budget = make_client()
    budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="PROJ-5", model="gpt-4o", event_id="good-1")
    budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="not a key!", model="gpt-4o", event_id="bad")
    budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="PROJ-5", model="gpt-4o", event_id="good-2")
    budget.record({"unknown": 1}, story="PROJ-5", model="gpt-4o", event_id="no-counts")
    budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="PROJ-5", event_id="no-model")
    assert budget.flush(10)

    assert [r.event_id for r in ledger_rows(db)] == ["good-1", "good-2"]
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 3
    assert any("bad" in m and "events[1].story" in m for m in dropped)


def test_same_event_id_with_other_content_is_a_conflict_not_retried(make_client, db, live, caplog):
    budget = make_client()
    budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="PROJ-6", model="gpt-4o", event_id="x")
    assert budget.flush(10)
    budget.record({"prompt_tokens": 99, "completion_tokens": 1}, story="PROJ-6", model="gpt-4o", event_id="x")
    budget.record({"prompt_tokens": 2, "completion_tokens": 1}, story="PROJ-6", model="gpt-4o", event_id="y")
    assert budget.flush(10)

    assert {r.event_id: r.input_tokens for r in ledger_rows(db)} == {"x": 1, "y": 2}
    assert any("conflicts" in r.getMessage() and "HTTP 409" in r.getMessage() for r in caplog.records)
    assert not budget._spool.has_events()


def test_record_never_raises_and_returns_fast(make_client):
    budget = make_client()
    started = time.perf_counter()
    for _ in range(1000):
        budget.record(object(), story="PROJ-7")  # unreadable: dropped on the sender thread, logged
    assert (time.perf_counter() - started) / 1000 < 0.001
    assert budget.flush(10)


def test_the_token_never_reaches_the_logs(make_client, token, caplog, live):
    budget = make_client(fail_open=True)
    live.stop()
    budget.record({"prompt_tokens": 1, "completion_tokens": 1}, story="PROJ-8", model="gpt-4o")
    budget.preflight(story="PROJ-8")
    assert not budget.flush(0.5)
    assert caplog.records
    assert all(token not in r.getMessage() for r in caplog.records)
    assert token not in repr(budget)


@pytest.mark.parametrize("bad", ["ftp://x", "127.0.0.1:8000", ""])
def test_a_bad_url_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="url"):
        BudgetClient(bad, "t")


def test_usage_fields_reads_sdk_objects_and_their_usage():
    assert usage_fields(anthropic_message().usage)[1] is None
    assert usage_fields(gemini_response())[1] == "gemini-2.5-pro"
    assert usage_fields(openai_chat())[0]["usage"]["prompt_tokens_details"]["cached_tokens"] == 4096


def test_anthropic_batch_tier_is_recognized_without_cache_fields(make_client, db):
    budget = make_client()
    message = anthropic_message().model_copy(update={"usage": anthropic_message().usage.model_copy(
        update={"cache_creation_input_tokens": None, "cache_read_input_tokens": None, "service_tier": "batch"})})
    standard = anthropic_message().model_copy(update={"usage": message.usage.model_copy(
        update={"service_tier": "standard"})})
    budget.record(message, story="PROJ-9", event_id="batch")
    budget.record(standard, story="PROJ-9", event_id="standard")
    assert budget.flush(10)
    cost = {r.event_id: r.cost_nano_usd for r in ledger_rows(db)}
    assert cost["batch"] * 2 == cost["standard"]  # budgetbot halves Anthropic's batch tier
