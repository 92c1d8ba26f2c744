"""One batch's fate after an answer: retry timing, and which events of a refused batch are bad."""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from typing import Any

from budgetbot_client.transport import Reply

log = logging.getLogger("budgetbot_client")
_INDEX = re.compile(r"^events\[(\d+)\]")
# Fields newer than some servers: when a server rejects only these, they are dropped rather than the event.
_OPTIONAL_FIELDS = ("reservation_id",)


@dataclass(frozen=True)
class Backoff:
    """Retry timing: exponential with full jitter, and how far a server's Retry-After is believed."""

    retries: int = 3  # in-thread attempts after the first, before events go to the spool
    base: float = 0.25
    cap: float = 30.0
    max_retry_after: float = 60.0
    max_inline_wait: float = 5.0  # a longer Retry-After is waited out with the events in the spool

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** attempt))

    def clamp(self, retry_after: float) -> float:
        return min(max(retry_after, 0.0), self.max_retry_after)


def triage(events: list[dict[str, Any]], reply: Reply) -> list[dict[str, Any]] | None:
    """After a 4xx naming events (`events[3].story`): the events to resend, bad ones logged once and dropped.

    None when the answer names no event and the batch has several (the caller splits it); a single event is
    then the bad one.
    """
    body = reply.body if isinstance(reply.body, dict) else {}
    by_index: dict[int, list[tuple[str, str]]] = {}
    for err in body.get("errors") or []:
        path = str(err.get("path", "")) if isinstance(err, dict) else ""
        match = _INDEX.match(path)
        if match and int(match.group(1)) < len(events):
            by_index.setdefault(int(match.group(1)), []).append((path, str(err.get("message"))))
    if not by_index:
        if len(events) > 1:
            return None
        by_index = {0: [("", str(body.get("message") or f"HTTP {reply.status}"))]}
    keep = []
    for index, event in enumerate(events):
        problems = by_index.get(index)
        if problems is None:
            keep.append(event)
        elif (stripped := _strip_optional(event, [path for path, _ in problems])) is not None:
            keep.append(stripped)
        else:
            what = "conflicts with another event already recorded" if reply.status == 409 else "was rejected"
            detail = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
            log.warning("budgetbot: usage event %s %s (HTTP %d), dropped: %s",
                        event.get("event_id"), what, reply.status, detail[:500])
    return keep


def _strip_optional(event: dict[str, Any], paths: list[str]) -> dict[str, Any] | None:
    """The event without fields this server does not know yet, if those were its only problem."""
    names = {path.rsplit(".", 1)[-1] for path in paths}
    if not names <= set(_OPTIONAL_FIELDS) or not names & event.keys():
        return None
    return {k: v for k, v in event.items() if k not in names}
