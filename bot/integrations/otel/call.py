"""One model call read from telemetry, before attribution turns it into a ledger event."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_EVENT_ID = 200  # UsageEventIn.event_id


@dataclass
class Call:
    """What a telemetry record says about one model call; counts follow budgetbot's meaning (input incl. cache)."""

    source: str  # claude_code | codex | gemini_cli | genai
    event_id: str
    model: str
    run_id: str | None
    agent: str | None
    provider: str | None
    occurred_at: datetime | None
    attrs: dict[str, Any]  # the record's attributes (resource attributes are looked up beside them)
    outcome: str = "ok"
    latency_ms: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    extra: dict[str, str] = field(default_factory=dict)  # kept in the event's attributes (client_cost_usd, ...)


def event_id(prefix: str, *parts: object) -> str:
    """A stable idempotency key: the same record exported twice gets the same id, so it counts once."""
    natural = ":".join(str(p) for p in parts)
    candidate = f"{prefix}:{natural}"
    if len(candidate) <= MAX_EVENT_ID:
        return candidate
    return f"{prefix}:sha256:{hashlib.sha256(natural.encode()).hexdigest()}"


def fingerprint(*parts: object) -> str:
    """A digest of what identifies a record that carries no id of its own."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:40]


def from_unix_nano(nanos: int) -> datetime | None:
    """OTLP times are nanoseconds since the epoch; 0 means unknown (the ledger then uses 'now')."""
    if nanos <= 0:
        return None
    try:
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
