"""Claude Code's OTLP log events, sent by the real SDK exporter, become priced ledger rows (once)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from otel_support import (
    CLAUDE_RESOURCE,
    claude_api_error,
    claude_api_request,
    claude_user_prompt,
    export_logs,
    log_batch,
    logs_json,
    served,
)
from sqlalchemy import select

from bot.ledger.tables import RunStat, Story, UsageEvent


@pytest.fixture
def token(auth) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


def rows(db) -> list[UsageEvent]:
    with db.session_factory() as session:
        return list(session.scalars(select(UsageEvent).order_by(UsageEvent.event_id)))


def test_api_requests_become_priced_rows_with_anthropic_counts_normalized(app, db, token):
    resource = {**CLAUDE_RESOURCE, "jira.issue.key": "proj-7", "team": "payments", "cost_center": "cc-42"}
    batch = log_batch([claude_api_request(1), claude_api_request(2), claude_user_prompt(3)], resource)
    with served(app) as url:
        exported = export_logs(url, token, batch)
    assert [r.status_code for r in exported.responses] == [200]
    assert exported.responses[0].headers["Content-Type"] == "application/x-protobuf"
    answer = ExportLogsServiceResponse.FromString(exported.responses[0].content)
    assert not answer.HasField("partial_success")

    stored = rows(db)
    assert [r.event_id for r in stored] == ["claude_code:req_sess-1_0001", "claude_code:req_sess-1_0002"]
    row = stored[0]
    # Anthropic's input_tokens exclude cache: budgetbot's input = 1200 + 20000 read + 1500 written.
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens) == (
        22700, 300, 20000, 1500)
    assert (row.story_key, row.model, row.provider, row.agent, row.run_id) == (
        "PROJ-7", "claude-sonnet-4-5", "anthropic", "claude-code", "sess-1")
    assert row.priced and row.price_source == "genai-prices" and row.cost_nano_usd > 0
    assert row.latency_ms == 1830 and row.outcome == "ok"
    assert row.attributes == {"client_cost_usd": "0.0123", "cost_center": "cc-42", "source": "otel:claude_code",
                              "team": "payments"}
    with db.session_factory() as session:
        story = session.get(Story, "PROJ-7")
        assert story.events == 2 and story.spent_tokens == 2 * (22700 + 300)
        assert story.spent_nano_usd == 2 * row.cost_nano_usd


def test_reexport_counts_once(app, db, token):
    batch = log_batch([claude_api_request(n) for n in range(1, 6)], {**CLAUDE_RESOURCE, "jira.issue.key": "PROJ-8"})
    with served(app) as url:
        first = export_logs(url, token, batch)
        again = export_logs(url, token, batch)
    assert [r.status_code for r in first.responses + again.responses] == [200, 200]
    assert len(rows(db)) == 5
    with db.session_factory() as session:
        assert session.get(Story, "PROJ-8").events == 5


def test_api_error_is_an_error_outcome_for_the_run_streak(app, db, token):
    batch = log_batch([claude_api_error(n) for n in range(1, 4)], {**CLAUDE_RESOURCE, "jira.issue.key": "PROJ-9"})
    with served(app) as url:
        assert export_logs(url, token, batch).responses[0].status_code == 200
    stored = rows(db)
    assert len(stored) == 3
    assert {(r.outcome, r.input_tokens, r.output_tokens, r.cost_nano_usd) for r in stored} == {("error", 0, 0, 0)}
    with db.session_factory() as session:
        run = session.get(RunStat, "sess-1")
        assert (run.errors, run.errors_since_ok) == (3, 3)


def test_subagent_name_wins_over_service_name(app, db, token):
    batch = log_batch([claude_api_request(1, **{"agent.name": "code-reviewer"})], CLAUDE_RESOURCE)
    with served(app) as url:
        export_logs(url, token, batch)
    assert rows(db)[0].agent == "code-reviewer"


def test_gzip_and_json_bodies_store_the_same_rows(app, client, db, token, auth):
    batch = log_batch([claude_api_request(1, session="s-json")], {**CLAUDE_RESOURCE, "jira.issue.key": "PROJ-3"})
    body = logs_json(batch)
    assert b'"intValue": "1"' in body  # int64 travels as a string in OTLP/JSON
    response = client.post("/v1/logs", data=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.content_type == "application/json"
    assert json.loads(response.data) == {}
    gzipped = log_batch([claude_api_request(2, session="s-gzip")], CLAUDE_RESOURCE)
    with served(app) as url:
        assert export_logs(url, token, gzipped, gzip_body=True).responses[0].status_code == 200
    assert [(r.event_id, r.story_key) for r in rows(db)] == [
        ("claude_code:req_s-gzip_0002", None), ("claude_code:req_s-json_0001", "PROJ-3")]


def test_json_partial_success_is_json(client, auth, db):
    bad = log_batch([claude_api_request(1, input_tokens="-5")], CLAUDE_RESOURCE)
    response = client.post("/v1/logs", data=logs_json(bad), headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 200
    answer = json_format.Parse(response.data, ExportLogsServiceResponse())
    assert answer.partial_success.rejected_log_records == 1
    assert "input_tokens is negative (-5)" in answer.partial_success.error_message


def test_without_request_id_the_session_sequence_is_the_idempotency_key(app, db, token):
    batch = log_batch([claude_api_request(4, request_id=None)], CLAUDE_RESOURCE)
    with served(app) as url:
        export_logs(url, token, batch)
        export_logs(url, token, batch)
    assert [r.event_id for r in rows(db)] == ["claude_code:sess-1:4"]
