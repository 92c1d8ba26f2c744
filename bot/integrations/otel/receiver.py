"""POST /v1/logs, /v1/traces, /v1/metrics: OTLP/HTTP exports become ledger events through ingest()."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.app_pricer import get_pricer
from bot.db import get_db
from bot.integrations.otel import agents, attribution, genai
from bot.integrations.otel.values import Rejected, attributes
from bot.ledger.ingest import EventConflict, ingest
from bot.ledger.tables import UsageEvent
from bot.web.auth import require_token

bp = Blueprint("otel", __name__)
_REASONS_SHOWN = 5
# What this process took in, shown in /healthz: dropped telemetry is visible there, never stored.
_lock = threading.Lock()
_counts: Counter[str] = Counter()
COUNTER_NAMES = ("exports", "records", "usage_events", "duplicates", "dropped", "rejected", "busy")


def count(**deltas: int) -> None:
    with _lock:
        _counts.update({name: value for name, value in deltas.items() if value})


def counters(_session=None) -> dict[str, int]:
    """The /healthz detail: records received, stored as usage, duplicates, dropped (not model calls), rejected."""
    with _lock:
        return {name: _counts[name] for name in COUNTER_NAMES}


@dataclass
class Batch:
    """One export, read: the calls to store, and what was dropped or rejected (with reasons)."""

    kind: str  # log records | spans | data points
    records: int = 0
    items: list[attribution.Item] = field(default_factory=list)
    dropped: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, where: str, reason: str) -> None:
        self.reasons.append(f"{where}: {reason}")

    def message(self) -> str:
        shown = "; ".join(self.reasons[:_REASONS_SHOWN])
        more = f"; and {len(self.reasons) - _REASONS_SHOWN} more" if len(self.reasons) > _REASONS_SHOWN else ""
        return f"{len(self.reasons)} {self.kind} rejected: {shown}{more}"


@bp.post("/v1/logs")
@require_token
def export_logs():
    return _export("logs", _read_logs)


@bp.post("/v1/traces")
@require_token
def export_traces():
    return _export("traces", _read_spans)


@bp.post("/v1/metrics")
@require_token
def export_metrics():
    return _export("metrics", _read_metrics)


def _export(name: str, read):
    # The protobuf classes load on the first export, not when the blueprint is registered: every process and
    # every CLI command builds the app, and most never receive telemetry.
    from bot.integrations.otel import wire

    settings = current_app.config["SETTINGS"]
    signal = wire.SIGNALS[name]
    fmt = None
    try:
        fmt = wire.body_format()
        message = wire.decode(signal, wire.read_body(settings.otel_max_body_bytes), fmt)
    except wire.WireError as exc:
        return wire.error_response(fmt, exc.status, str(exc))
    batch = read(message, settings)
    try:
        accepted, duplicates = _store(batch, attribution.Rules.from_settings(settings), settings.warn_threshold)
    except (OperationalError, PoolTimeout):
        # Locked or overloaded database: 503 + Retry-After is what OTLP exporters retry on.
        current_app.logger.warning("otel export deferred: database busy", exc_info=True)
        count(busy=1)
        return wire.error_response(fmt, 503, "the database is busy; retry later",
                                   retry_after=settings.otel_retry_after_seconds)
    count(exports=1, records=batch.records, usage_events=accepted, duplicates=duplicates,
          dropped=batch.dropped, rejected=len(batch.reasons))
    return wire.export_response(signal, fmt, len(batch.reasons), batch.message() if batch.reasons else "")


def _read_logs(message: Any, settings: Any) -> Batch:
    batch = Batch("log records")
    for resource_logs in message.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        service = resource.get("service.name")
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                batch.records += 1
                attrs = attributes(record.attributes)
                name = agents.event_name(record, attrs, service)
                if name is None:
                    batch.dropped += 1  # prompts, tool results, ...: not model calls
                    continue
                try:
                    call = agents.HANDLERS[name](record, attrs, resource)
                except Rejected as exc:
                    batch.reject(f"log record {batch.records} ({name})", str(exc))
                    continue
                if call is None:
                    batch.dropped += 1
                else:
                    batch.items.append(attribution.Item(call, resource))
    return batch


def _read_spans(message: Any, settings: Any) -> Batch:
    batch = Batch("spans")
    skipped = set(settings.otel_skip_span_services)
    for resource_spans in message.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        count_only = resource.get("service.name") in skipped
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                batch.records += 1
                if count_only:
                    batch.dropped += 1  # that CLI's log events already carry these calls
                    continue
                try:
                    call = genai.span_call(span, attributes(span.attributes), resource)
                except Rejected as exc:
                    batch.reject(f"span {batch.records} ({span.name})", str(exc))
                    continue
                if call is None:
                    batch.dropped += 1
                else:
                    batch.items.append(attribution.Item(call, resource))
    return batch


def _read_metrics(message: Any, settings: Any) -> Batch:
    """Metrics (claude_code.token.usage, ...) aggregate the calls the log events report: counted, never stored."""
    batch = Batch("data points")
    for resource_metrics in message.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                points = len(getattr(metric, kind).data_points) if kind else 0
                batch.records += points
                batch.dropped += points
    return batch


def _store(batch: Batch, rules: attribution.Rules, warn_threshold) -> tuple[int, int]:
    """Ingest the batch's calls; returns (accepted, duplicates). Events that do not validate are rejected."""
    items, skip_stored = list(batch.items), False
    while True:
        reasons: list[str] = []
        fresh: list[tuple[attribution.Item, Any]] = []
        try:
            with get_db().transaction() as session:
                attribution.attribute(session, items, rules)
                fresh, rejected = attribution.to_events(items, rules)
                reasons = [f"{item.call.source} call {item.call.event_id}: {why}" for item, why in rejected]
                total = len(fresh)
                if skip_stored:
                    stored = set(session.scalars(select(UsageEvent.event_id).where(
                        UsageEvent.event_id.in_({e.event_id for _, e in fresh})))) if fresh else set()
                    fresh = [(item, e) for item, e in fresh if e.event_id not in stored]
                outcome = ingest(session, [e for _, e in fresh], get_pricer(), warn_threshold) if fresh else None
        except EventConflict as exc:
            if not skip_stored:
                # A re-export attributed differently than the first time (its run got a story since) is the
                # same call: ids already in the ledger are duplicates here, not conflicts. Checked only now,
                # because the lookup costs every export.
                skip_stored = True
                continue
            # Two records of this export share an id with different content (or a concurrent writer won):
            # drop the clashing one and store the rest; each retry has one item fewer.
            clash = fresh[exc.index][0]
            items = [item for item in items if item is not clash]
            batch.reasons.append(f"{clash.call.source} call {clash.call.event_id}: {exc}")
            continue
        batch.reasons.extend(reasons)
        accepted = sum(r.result == "accepted" for r in outcome.events) if outcome else 0
        return accepted, total - accepted
