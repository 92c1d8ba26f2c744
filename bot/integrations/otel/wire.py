"""OTLP/HTTP on the wire: bounded body reading (gzip included), protobuf/JSON decoding, spec-shaped answers."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any

from flask import Response, request
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from werkzeug.exceptions import RequestEntityTooLarge

PROTOBUF, JSON = "application/x-protobuf", "application/json"
_CHUNK = 256 * 1024  # inflate this much at a time, so a gzip bomb stops at the limit


class WireError(ValueError):
    """The request cannot be read; `status` is the HTTP answer (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Signal:
    name: str  # logs | traces | metrics
    request: type[Message]
    response: type[Message]
    json_key: str  # the one top-level field of the request in OTLP/JSON
    rejected_field: str
    id_paths: tuple[tuple[str, ...], ...]  # where OTLP/JSON carries hex trace/span ids


SIGNALS = {
    "logs": Signal("logs", logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
                   "resourceLogs", "rejected_log_records", (("resourceLogs", "scopeLogs", "logRecords"),)),
    "traces": Signal("traces", trace_service_pb2.ExportTraceServiceRequest,
                     trace_service_pb2.ExportTraceServiceResponse, "resourceSpans", "rejected_spans",
                     (("resourceSpans", "scopeSpans", "spans"), ("resourceSpans", "scopeSpans", "spans", "links"))),
    "metrics": Signal("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                      metrics_service_pb2.ExportMetricsServiceResponse, "resourceMetrics", "rejected_data_points",
                      ()),  # metrics are never read past counting, so their exemplar ids need no repair
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def body_format() -> str:
    """application/x-protobuf or application/json (the answer uses the same); else 415."""
    mimetype = request.mimetype
    if mimetype in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if mimetype == JSON:
        return JSON
    raise WireError(415, f"Content-Type {mimetype or '(none)'!r} is not OTLP: send {PROTOBUF} or {JSON}")


def read_body(limit: int) -> bytes:
    """The request body, decompressed, at most `limit` bytes before AND after gunzip (else 413)."""
    request.max_content_length = limit  # OTLP batches may be larger than the JSON API's body limit
    too_large = WireError(413, f"export body over {limit:,} bytes; lower the exporter's batch size")
    try:
        raw = request.stream.read(limit + 1)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(raw) > limit:
        raise too_large
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise WireError(415, f"Content-Encoding {encoding!r} is not supported: send gzip or none")
    return _gunzip(raw, limit)


def _gunzip(raw: bytes, limit: int) -> bytes:
    out = bytearray()
    pending = raw
    try:
        while pending:  # one pass per gzip member: concatenated members are one body
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while pending and len(out) <= limit:
                out += inflater.decompress(pending, min(_CHUNK, limit + 1 - len(out)))
                pending = inflater.unconsumed_tail
            if len(out) > limit:
                raise WireError(413, f"export body inflates past {limit:,} bytes; lower the exporter's batch size")
            if not inflater.eof:
                raise WireError(400, "the gzip body is truncated")
            pending = inflater.unused_data
    except zlib.error as exc:
        raise WireError(400, f"the body is not valid gzip ({exc})") from None
    return bytes(out)


def decode(signal: Signal, data: bytes, fmt: str) -> Any:
    """The Export<signal>ServiceRequest in `data`; 400 when it is not one."""
    message = signal.request()
    if fmt == PROTOBUF:
        try:
            message.ParseFromString(data)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise WireError(400, f"the body is not an OTLP/protobuf {signal.name} export ({exc})") from None
        return message
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError(400, "the body is not valid JSON") from None
    if not isinstance(document, dict) or (document and signal.json_key not in document):
        raise WireError(400, f"the body is not an OTLP/JSON {signal.name} export: expected an object with "
                             f"'{signal.json_key}'")
    for path in signal.id_paths:
        for holder in _walk(document, path):
            for name in _ID_FIELDS:
                if isinstance(holder.get(name), str):
                    holder[name] = _hex_to_base64(name, holder[name])
    try:
        # Unknown fields MUST be ignored (OTLP/JSON): newer exporters add fields.
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise WireError(400, f"the body is not an OTLP/JSON {signal.name} export ({str(exc)[:200]})") from None
    return message


def _walk(node: Any, path: tuple[str, ...]):
    if not path:
        if isinstance(node, dict):
            yield node
        return
    children = node.get(path[0]) if isinstance(node, dict) else None
    for child in children if isinstance(children, list) else ():
        yield from _walk(child, path[1:])


def _hex_to_base64(name: str, value: str) -> str:
    # OTLP/JSON carries ids as hex, where the protobuf JSON mapping expects base64.
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise WireError(400, f"{name} {value[:40]!r} is not hex") from None


def export_response(signal: Signal, fmt: str, rejected: int, message: str) -> Response:
    """200 with Export<signal>ServiceResponse; partial_success only when something was rejected."""
    answer = signal.response()
    if rejected:
        setattr(answer.partial_success, signal.rejected_field, rejected)
        answer.partial_success.error_message = message
    if fmt == PROTOBUF:
        return Response(answer.SerializeToString(), 200, content_type=PROTOBUF)
    return Response(json_format.MessageToJson(answer, indent=None), 200, content_type=JSON)


_GRPC_CODES = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}  # INVALID_ARGUMENT, UNAUTHENTICATED, ...


def error_response(fmt: str | None, status: int, message: str, retry_after: int | None = None) -> Response:
    """A 4xx/5xx answer whose body is a google.rpc.Status, as OTLP/HTTP requires."""
    code = _GRPC_CODES.get(status, 2)
    body: bytes | str
    if fmt == PROTOBUF:
        text = message.encode()
        body, content_type = b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text, PROTOBUF
    else:
        body, content_type = json.dumps({"code": code, "message": message}), JSON
    response = Response(body, status, content_type=content_type)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
