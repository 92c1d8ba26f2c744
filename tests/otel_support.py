"""Real OTLP exporter output for the receiver's tests: the SDK's exporters against the app served on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from werkzeug.serving import make_server

T0 = 1_795_000_000_000_000_000  # 2026-11-18, in ns: fixed so re-exports are byte-identical

CLAUDE_RESOURCE = {"service.name": "claude-code", "service.version": "2.1.0", "os.type": "linux"}
CODEX_RESOURCE = {"service.name": "codex_exec", "service.version": "0.128.0"}
GEMINI_RESOURCE = {"service.name": "gemini-cli", "service.version": "0.20.0"}


@contextmanager
def served(app) -> Iterator[str]:
    """The app on an ephemeral 127.0.0.1 port (threaded werkzeug server); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def claude_api_request(n: int, session: str = "sess-1", **overrides) -> dict:
    """A claude_code.api_request event as Claude Code's monitoring docs describe it (numbers as strings)."""
    attributes = {"event.name": "api_request", "event.timestamp": "2026-11-18T10:00:00.000Z",
                  "event.sequence": n, "session.id": session, "prompt.id": f"prompt-{session}",
                  "model": "claude-sonnet-4-5", "cost_usd": "0.0123", "duration_ms": "1830",
                  "input_tokens": "1200", "output_tokens": "300", "cache_read_tokens": "20000",
                  "cache_creation_tokens": "1500", "request_id": f"req_{session}_{n:04d}",
                  "terminal.type": "tmux", "user.account_uuid": "acct-1"}
    attributes.update(overrides)
    return {"body": "claude_code.api_request", "attributes": {k: v for k, v in attributes.items() if v is not None},
            "timestamp": T0 + n * 1_000_000_000}


def claude_api_error(n: int, session: str = "sess-1") -> dict:
    return {"body": "claude_code.api_error", "timestamp": T0 + n * 1_000_000_000, "attributes": {
        "event.name": "api_error", "event.timestamp": "2026-11-18T10:00:00.000Z", "event.sequence": n,
        "session.id": session, "model": "claude-sonnet-4-5", "error": "Overloaded", "status_code": "529",
        "duration_ms": "412", "attempt": "1"}}


def claude_user_prompt(n: int, session: str = "sess-1") -> dict:
    return {"body": "claude_code.user_prompt", "timestamp": T0 + n * 1_000_000_000, "attributes": {
        "event.name": "user_prompt", "event.sequence": n, "session.id": session, "prompt_length": "42",
        "prompt": "<REDACTED>"}}


def codex_sse_event(n: int, conversation: str = "conv-1", kind: str = "response.completed", **overrides) -> dict:
    """codex.sse_event as Codex CLI's [otel] docs describe it (counts as ints)."""
    attributes = {"event.name": "codex.sse_event", "event.timestamp": "2026-11-18T10:00:00.000Z",
                  "event.kind": kind, "conversation.id": conversation, "app.version": "0.128.0",
                  "model": "gpt-5", "slug": "gpt-5", "duration_ms": 2100}
    if kind == "response.completed":
        attributes.update({"input_token_count": 10000, "output_token_count": 900, "cached_token_count": 8000,
                           "reasoning_token_count": 600, "tool_token_count": 0})
    attributes.update(overrides)
    return {"body": "codex.sse_event", "attributes": attributes, "timestamp": T0 + n * 1_000_000_000}


def gemini_api_response(n: int, session: str = "gem-1", **overrides) -> dict:
    """gemini_cli.api_response as Gemini CLI's telemetry docs describe it."""
    attributes = {"event.name": "gemini_cli.api_response", "event.timestamp": "2026-11-18T10:00:00.000Z",
                  "session.id": session, "installation.id": "inst-1", "model": "gemini-2.5-pro",
                  "status_code": 200, "duration_ms": 3200, "input_token_count": 5000, "output_token_count": 400,
                  "cached_content_token_count": 3000, "thoughts_token_count": 250, "tool_token_count": 100,
                  "total_token_count": 5750, "prompt_id": f"{session}########{n}", "auth_type": "gemini-api-key"}
    attributes.update(overrides)
    return {"body": "API response from gemini-2.5-pro. Status: 200. Duration: 3200ms.",
            "attributes": attributes, "timestamp": T0 + n * 1_000_000_000}


@dataclass
class Exported:
    """What the exporter got back: one HTTP response per export."""

    responses: list[requests.Response] = field(default_factory=list)


def _capturing_session(exported: Exported) -> requests.Session:
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: exported.responses.append(response))
    return session


def log_batch(records: list[dict], resource: dict) -> list:
    """The SDK's ReadableLogRecords for `records` (emitted through a LoggerProvider with `resource`)."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("com.anthropic.claude_code.events", "2.1.0")
    for record in records:
        logger.emit(body=record["body"], attributes=record["attributes"], timestamp=record["timestamp"],
                    observed_timestamp=record["timestamp"], event_name=record.get("event_name"))
    provider.shutdown()
    return list(memory.get_finished_logs())


def export_logs(base_url: str, token: str | None, batch: list, *, gzip_body: bool = False,
                headers: dict | None = None) -> Exported:
    """Send `batch` with the SDK's OTLP/HTTP protobuf log exporter, as an agent's exporter would."""
    exported = Exported()
    exporter = OTLPLogExporter(
        endpoint=f"{base_url}/v1/logs", headers={**({"Authorization": f"Bearer {token}"} if token else {}),
                                                 **(headers or {})},
        compression=Compression.Gzip if gzip_body else Compression.NoCompression, timeout=5,
        session=_capturing_session(exported))
    exporter.export(batch)
    exporter.shutdown()
    return exported


def logs_json(batch: list) -> bytes:
    """The same export as OTLP/JSON: camelCase, int64 as strings, trace/span ids as hex (not base64)."""
    return _hex_ids(json_format.MessageToDict(encode_logs(batch)), ("resourceLogs", "scopeLogs", "logRecords"))


def span_batch(spans: list[dict], resource: dict) -> list:
    """ReadableSpans as an instrumentation emits them: name, attributes, optional error status."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0")
    for spec in spans:
        parent = tracer.start_span(spec["parent"], start_time=T0) if spec.get("parent") else None
        context = trace.set_span_in_context(parent) if parent else None
        span = tracer.start_span(spec["name"], context=context, attributes=spec["attributes"],
                                 start_time=spec.get("start", T0))
        if spec.get("error"):
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=spec.get("start", T0) + spec.get("duration_ns", 1_500_000_000))
        if parent:
            parent.end(end_time=T0 + 2_000_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


def export_spans(base_url: str, token: str, batch: list) -> Exported:
    exported = Exported()
    exporter = OTLPSpanExporter(endpoint=f"{base_url}/v1/traces", headers={"Authorization": f"Bearer {token}"},
                                timeout=5, session=_capturing_session(exported))
    exporter.export(batch)
    exporter.shutdown()
    return exported


def spans_json(batch: list) -> bytes:
    return _hex_ids(json_format.MessageToDict(encode_spans(batch)), ("resourceSpans", "scopeSpans", "spans"))


def _hex_ids(document: dict, path: tuple[str, ...]) -> bytes:
    def walk(node, rest):
        if not rest:
            for name in ("traceId", "spanId", "parentSpanId"):
                if name in node:
                    node[name] = base64.b64decode(node[name]).hex().upper()  # hex is case-insensitive
            return
        for child in node.get(rest[0], []):
            walk(child, rest[1:])

    walk(document, path)
    return json.dumps(document).encode()


def gzip_bomb(size: int) -> bytes:
    """`size` bytes of zeros, gzipped (a few KB on the wire)."""
    return gzip.compress(b"\0" * size, compresslevel=9)


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
