"""Bad exports get a clear OTLP answer (400/401/413/415, 503 to retry), bad records a partial success."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from otel_support import (
    CLAUDE_RESOURCE,
    claude_api_request,
    claude_user_prompt,
    export_logs,
    gzip_bomb,
    log_batch,
    served,
)
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.integrations.otel import receiver, wire
from bot.ledger.tables import UsageEvent

PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def token(auth) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


def count_rows(db) -> int:
    with db.session_factory() as session:
        return len(list(session.scalars(select(UsageEvent.event_id))))


def body(records=None) -> bytes:
    return encode_logs(log_batch(records or [claude_api_request(1)], CLAUDE_RESOURCE)).SerializeToString()


def status_of(response) -> status_pb2.Status:
    assert response.content_type == "application/x-protobuf"
    return status_pb2.Status.FromString(response.data)


def test_mixed_batch_is_a_partial_success_and_never_loses_the_good_records(app, db, token):
    records = [claude_api_request(1), claude_api_request(2, output_tokens="-1"),
               claude_api_request(3, input_tokens=str(10**12)), claude_api_request(4, cache_read_tokens="lots"),
               claude_user_prompt(5), claude_api_request(6)]
    with served(app) as url:
        [response] = export_logs(url, token, log_batch(records, CLAUDE_RESOURCE)).responses
    assert response.status_code == 200
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 3
    assert "output_tokens is negative (-1)" in partial.error_message
    assert "input_tokens is absurdly large" in partial.error_message
    assert "cache_read_tokens is not a whole number" in partial.error_message
    assert count_rows(db) == 2  # the prompt event is dropped (not a model call), not rejected


def test_metrics_are_accepted_and_never_counted(app, client, db, token):
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create(CLAUDE_RESOURCE), metric_readers=[reader])
    meter = provider.get_meter("com.anthropic.claude_code")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    for kind, value in (("input", 1200), ("output", 300), ("cacheRead", 20000), ("cacheCreation", 1500)):
        tokens.add(value, {"type": kind, "model": "claude-sonnet-4-5", "session.id": "sess-1"})
    cost.add(0.0123, {"model": "claude-sonnet-4-5", "session.id": "sess-1"})
    data = reader.get_metrics_data()
    before = client.get("/healthz").get_json()["otel"]
    with served(app) as url:
        exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers={"Authorization": f"Bearer {token}"})
        assert exporter.export(data).name == "SUCCESS"
        exporter.shutdown()
    provider.shutdown()
    after = client.get("/healthz").get_json()["otel"]
    assert count_rows(db) == 0
    assert after["dropped"] - before["dropped"] == 5 and after["usage_events"] == before["usage_events"]


def test_dropped_records_are_counted_in_healthz(client, auth, db):
    before = client.get("/healthz").get_json()["otel"]
    response = client.post("/v1/logs", data=body([claude_user_prompt(1), claude_api_request(2)]),
                           headers={**auth, **PROTOBUF})
    assert response.status_code == 200
    after = client.get("/healthz").get_json()["otel"]
    assert (after["dropped"] - before["dropped"], after["usage_events"] - before["usage_events"]) == (1, 1)


def test_truncated_protobuf_is_400(client, auth, db):
    data = body([claude_api_request(n) for n in range(1, 4)])
    response = client.post("/v1/logs", data=data[: len(data) - 7], headers={**auth, **PROTOBUF})
    assert response.status_code == 400
    assert "not an OTLP/protobuf logs export" in status_of(response).message
    assert count_rows(db) == 0


@pytest.mark.parametrize("payload, expected", [
    (b'{"event_id": "e1", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1}', "expected an object with"),
    (b"[1, 2]", "expected an object with"),
    (b'{"resourceLogs": "nope"}', "not an OTLP/JSON logs export"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}', "traceId 'zz' is not hex"),
    (b"{not json", "not valid JSON"),
])
def test_json_that_is_not_otlp_is_400(client, auth, db, payload, expected):
    response = client.post("/v1/logs", data=payload, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.content_type == "application/json"
    assert expected in response.get_json()["message"]


def test_unknown_content_type_is_415(client, auth):
    response = client.post("/v1/logs", data=b"hello", headers={**auth, "Content-Type": "text/plain"})
    assert response.status_code == 415 and "application/x-protobuf" in response.get_json()["message"]


def test_gzip_bomb_is_413(client, auth, db):
    response = client.post("/v1/logs", data=gzip_bomb(10 * 2**20),
                           headers={**auth, **PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "inflates past" in status_of(response).message


def test_gzip_bomb_is_never_inflated_whole():
    bomb = gzip_bomb(200 * 2**20)  # 200 MiB of zeros in ~200 KB
    tracemalloc.start()
    with pytest.raises(wire.WireError) as caught:
        wire._gunzip(bomb, 1 * 2**20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert caught.value.status == 413 and peak < 8 * 2**20


def test_corrupt_gzip_is_400(client, auth):
    data = gzip.compress(body())
    response = client.post("/v1/logs", data=data[:-12], headers={**auth, **PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 400


class TestSmallLimit:
    @pytest.fixture
    def settings_overrides(self, db_url):
        return {"database_url": db_url, "otel_max_body_bytes": 4096}

    def test_body_over_the_limit_is_413(self, client, auth):
        response = client.post("/v1/logs", data=b"\0" * 5000, headers={**auth, **PROTOBUF})
        assert response.status_code == 413 and "over 4,096 bytes" in status_of(response).message

    def test_exports_may_be_larger_than_the_json_api_limit(self, client, auth, db):
        assert len(body()) < 4096  # and the app-wide limit does not apply to OTLP: see the next class


class TestLargeExports:
    @pytest.fixture
    def settings_overrides(self, db_url):
        return {"database_url": db_url, "max_body_bytes": 1024}

    def test_otlp_has_its_own_body_limit(self, client, auth, db):
        data = body([claude_api_request(n) for n in range(1, 20)])
        assert len(data) > 1024
        assert client.post("/v1/logs", data=data, headers={**auth, **PROTOBUF}).status_code == 200
        assert count_rows(db) == 19


def test_no_token_and_bad_token_are_401(app, db):
    with served(app) as url:
        [missing] = export_logs(url, None, log_batch([claude_api_request(1)], CLAUDE_RESOURCE)).responses
        [wrong] = export_logs(url, "bb_wrong", log_batch([claude_api_request(1)], CLAUDE_RESOURCE)).responses
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "missing bearer token" in missing.json()["message"] and "invalid" in wrong.json()["message"]
    assert count_rows(db) == 0


def test_busy_database_is_503_with_retry_after(client, auth, db, monkeypatch):
    def locked(*args, **kwargs):
        raise OperationalError("INSERT INTO usage_events ...", {}, Exception("database is locked"))

    monkeypatch.setattr(receiver, "ingest", locked)
    response = client.post("/v1/logs", data=body(), headers={**auth, **PROTOBUF})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "busy" in status_of(response).message
    monkeypatch.undo()
    assert client.post("/v1/logs", data=body(), headers={**auth, **PROTOBUF}).status_code == 200  # the retry
    assert count_rows(db) == 1


def test_empty_export_is_a_success(client, auth):
    response = client.post("/v1/logs", data=b"", headers={**auth, **PROTOBUF})
    assert response.status_code == 200 and response.data == b""
    empty_json = client.post("/v1/traces", data=b"{}", headers={**auth, "Content-Type": "application/json"})
    assert empty_json.status_code == 200


def test_two_records_with_one_id_and_different_counts_keep_the_first(app, db, token):
    records = [claude_api_request(1), claude_api_request(2, request_id="req_sess-1_0001", output_tokens="999")]
    with served(app) as url:
        [response] = export_logs(url, token, log_batch(records, CLAUDE_RESOURCE)).responses
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert (response.status_code, partial.rejected_log_records) == (200, 1)
    assert "already recorded with different content" in partial.error_message
    with db.session_factory() as session:
        [row] = session.scalars(select(UsageEvent))
    assert row.output_tokens == 300


def test_concatenated_gzip_members_are_one_body(client, auth, db):
    data = body([claude_api_request(n) for n in range(1, 5)])
    split = len(data) // 2
    response = client.post("/v1/logs", data=gzip.compress(data[:split]) + gzip.compress(data[split:]),
                           headers={**auth, **PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 200 and count_rows(db) == 4


def test_deeply_nested_json_is_400(client, auth):
    response = client.post("/v1/logs", data=b"[" * 100_000 + b"]" * 100_000,
                           headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 400


def test_a_nul_character_rejects_the_record_not_the_export(client, auth, db):
    data = body([claude_api_request(1, model="claude\x00x"), claude_api_request(2),
                 claude_api_request(3, team="a\x00b")])
    response = client.post("/v1/logs", data=data, headers={**auth, **PROTOBUF})
    partial = ExportLogsServiceResponse.FromString(response.data).partial_success
    assert (response.status_code, partial.rejected_log_records) == (200, 2)
    assert count_rows(db) == 1
