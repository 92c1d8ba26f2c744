"""Codex CLI and Gemini CLI log events, and GenAI spans from an instrumented SDK, as ledger rows."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from otel_support import (
    CODEX_RESOURCE,
    GEMINI_RESOURCE,
    codex_sse_event,
    export_logs,
    export_spans,
    gemini_api_response,
    log_batch,
    served,
    span_batch,
    spans_json,
)
from sqlalchemy import select

from bot.ledger.tables import UsageEvent


@pytest.fixture
def token(auth) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


def rows(db) -> list[UsageEvent]:
    with db.session_factory() as session:
        return list(session.scalars(select(UsageEvent).order_by(UsageEvent.occurred_at, UsageEvent.event_id)))


def test_codex_response_completed_uses_openai_counts(app, db, token):
    records = [codex_sse_event(1, kind="response.created"), codex_sse_event(2),
               codex_sse_event(3, kind="response.output_text.delta")]
    with served(app) as url:
        assert export_logs(url, token, log_batch(records, CODEX_RESOURCE)).responses[0].status_code == 200
    [row] = rows(db)
    # OpenAI counts: input already includes the 8,000 cached, output the 600 reasoning.
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.reasoning_tokens) == (10000, 900, 8000, 600)
    assert (row.model, row.provider, row.agent, row.run_id) == ("gpt-5", "openai", "codex_exec", "conv-1")
    assert row.priced and row.cost_nano_usd > 0 and row.latency_ms == 2100


def test_codex_response_id_is_the_idempotency_key(app, db, token):
    batch = log_batch([codex_sse_event(1, **{"response.id": "resp_abc"})], CODEX_RESOURCE)
    with served(app) as url:
        export_logs(url, token, batch)
        export_logs(url, token, batch)
    assert [r.event_id for r in rows(db)] == ["codex:resp_abc"]


def test_gemini_api_response_adds_thoughts_and_tool_prompt(app, db, token):
    batch = log_batch([gemini_api_response(1), gemini_api_response(2)], GEMINI_RESOURCE)
    with served(app) as url:
        export_logs(url, token, batch)
        export_logs(url, token, batch)  # no id of its own: the fingerprint keeps a re-export from counting twice
    stored = rows(db)
    assert len(stored) == 2
    row = stored[0]
    # promptTokenCount includes cached; thoughts are billed as output, tool-use prompt as input.
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.reasoning_tokens) == (5100, 650, 3000, 250)
    assert (row.model, row.provider, row.agent, row.run_id) == ("gemini-2.5-pro", "google", "gemini-cli", "gem-1")
    assert row.priced


def chat_span(**attributes) -> dict:
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200, "gen_ai.usage.cache_read.input_tokens": 400,
            "server.address": "api.openai.com"}
    base.update(attributes)
    return {"name": f"chat {base['gen_ai.request.model']}",
            "attributes": {k: v for k, v in base.items() if v is not None}}


def test_genai_chat_spans_are_counted_and_agent_spans_are_not(app, db, token):
    specs = [
        {**chat_span(**{"gen_ai.conversation.id": "conv-9", "gen_ai.agent.name": "planner"}),
         "parent": "invoke_agent planner"},
        {"name": "execute_tool search", "attributes": {"gen_ai.operation.name": "execute_tool"}},
        {"name": "invoke_agent planner", "attributes": {"gen_ai.operation.name": "invoke_agent",
                                                        "gen_ai.usage.input_tokens": 1000,
                                                        "gen_ai.usage.output_tokens": 200}},
    ]
    batch = span_batch(specs, {"service.name": "support-bot", "jira.issue.key": "PROJ-40"})
    with served(app) as url:
        exported = export_spans(url, token, batch)
        export_spans(url, token, batch)  # trace id + span id: a re-sent export counts once
    assert exported.responses[0].status_code == 200
    assert not ExportTraceServiceResponse.FromString(exported.responses[0].content).HasField("partial_success")
    [row] = rows(db)
    chat = next(s for s in batch if s.name.startswith("chat"))
    assert row.event_id == f"span:{chat.context.trace_id:032x}:{chat.context.span_id:016x}"
    assert (row.model, row.provider, row.agent, row.run_id, row.story_key) == (
        "gpt-4o-2024-08-06", "openai", "planner", "conv-9", "PROJ-40")
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens) == (1000, 200, 400)
    assert row.latency_ms == 1500 and row.priced


def test_genai_span_names_old_and_new(app, db, token):
    specs = [chat_span(**{"gen_ai.provider.name": None, "gen_ai.system": "anthropic",
                          "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": None,
                          "gen_ai.usage.cache_read.input_tokens": 100,
                          "gen_ai.usage.cache_creation.input_tokens": 300}),
             chat_span(**{"gen_ai.usage.cache_read.input_tokens": None,
                          "gen_ai.usage.cache_write.input_tokens": 250,
                          "gen_ai.usage.reasoning.output_tokens": 150}),
             {**chat_span(), "error": True}]
    batch = span_batch(specs, {"service.name": "svc"})
    with served(app) as url:
        export_spans(url, token, batch)
    by_model = {r.model: r for r in rows(db)}
    old = by_model["claude-sonnet-4-5"]
    assert (old.provider, old.cache_read_tokens, old.cache_write_tokens, old.input_tokens) == (
        "anthropic", 100, 300, 1000)
    assert old.run_id == f"{batch[0].context.trace_id:032x}"  # no conversation id: the trace is the run
    outcomes = sorted((r.outcome, r.cache_write_tokens, r.reasoning_tokens) for r in rows(db) if r.model != old.model)
    assert outcomes == [("error", 0, 0), ("ok", 250, 150)]


def test_spans_as_otlp_json_with_hex_ids(client, auth, db):
    batch = span_batch([chat_span()], {"service.name": "svc"})
    body = spans_json(batch)
    response = client.post("/v1/traces", data=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 200, response.data
    [row] = rows(db)
    assert row.event_id == f"span:{batch[0].context.trace_id:032x}:{batch[0].context.span_id:016x}"


def test_spans_of_clis_that_report_by_logs_are_not_counted_twice(app, db, token):
    batch = span_batch([chat_span()], {"service.name": "claude-code"})
    with served(app) as url:
        assert export_spans(url, token, batch).responses[0].status_code == 200
    assert rows(db) == []


def test_a_span_with_a_negative_count_is_rejected_alone(app, db, token):
    batch = span_batch([chat_span(**{"gen_ai.usage.output_tokens": -3}), chat_span()], {"service.name": "svc"})
    with served(app) as url:
        [response] = export_spans(url, token, batch).responses
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert (response.status_code, partial.rejected_spans) == (200, 1)
    assert "gen_ai.usage.output_tokens is negative (-3)" in partial.error_message
    assert len(rows(db)) == 1
