"""What the receiver took in, per process: shown in /healthz so dropped telemetry is visible, not stored."""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()
NAMES = ("exports", "records", "usage_events", "duplicates", "dropped", "rejected", "busy")


def add(**deltas: int) -> None:
    with _lock:
        _counts.update({name: value for name, value in deltas.items() if value})


def snapshot(_session=None) -> dict[str, int]:
    """The /healthz detail: records received, stored as usage, duplicates, dropped (not model calls), rejected."""
    with _lock:
        return {name: _counts[name] for name in NAMES}


def reset() -> None:
    with _lock:
        _counts.clear()
