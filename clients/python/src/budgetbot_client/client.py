"""BudgetClient: record() every model call in the background, preflight() before the next one."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from time import monotonic, time
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import uuid4

from budgetbot_client.batch import Backoff
from budgetbot_client.decision import ALLOW, BLOCK, Decision, DecisionValue, Reason
from budgetbot_client.guard import Guard
from budgetbot_client.sender import Sender
from budgetbot_client.spool import Spool, default_spool_path
from budgetbot_client.transport import Reply, Unreachable, post_json
from budgetbot_client.usage import usage_fields

log = logging.getLogger("budgetbot_client")
_ESTIMATES = ("estimated_tokens", "estimated_usd")
NO_PREFLIGHT_RECHECK_SECONDS = 300.0  # how long a server answering 404 to preflight is taken to have none
_clients: weakref.WeakSet[BudgetClient] = weakref.WeakSet()


class BudgetClient:
    """Talks to one budgetbot. Thread-safe; record() and preflight() never raise into the agent."""

    def __init__(self, url: str, token: str, *, agent: str | None = None, timeout: float = 5.0,
                 preflight_timeout: float = 2.0, spool_path: str | os.PathLike[str] | None = None,
                 fail_open: bool = True, max_queue: int = 10_000, max_batch: int = 1000, retries: int = 3,
                 max_spool_bytes: int = 64 * 1024 * 1024, attributes: Mapping[str, str] | None = None,
                 close_timeout: float = 5.0, linger: float = 0.2) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"budgetbot url must be http(s)://host[:port], got {url!r}")
        if not token or not token.strip():
            raise ValueError("budgetbot token is empty: create one with `budgetbot token create NAME`")
        if not 1 <= max_batch <= 1000:
            raise ValueError("max_batch must be between 1 and 1000 (the server's limit per request)")
        self.url = url.rstrip("/")
        self._token = token.strip()
        self.agent = agent
        self.timeout = timeout
        self.preflight_timeout = preflight_timeout
        self.fail_open = fail_open
        self.close_timeout = close_timeout
        self.attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        self.spool_path = Path(spool_path) if spool_path else default_spool_path(self.url, self._token)
        self._sender_args: dict[str, Any] = {"max_queue": max_queue, "max_batch": max_batch,
                                             "backoff": Backoff(retries=retries), "linger": linger}
        self._max_spool_bytes = max_spool_bytes
        self._spool = Spool(self.spool_path, max_spool_bytes)
        self._closed = False
        self._estimates_unsupported = False
        self._no_preflight_until = -1e9  # monotonic time until which this server is known to have no preflight
        self._last_degraded_log = -1e9
        self._full_warned = False
        self._sender = self._new_sender()
        _clients.add(self)
        atexit.register(_close_at_exit, weakref.ref(self))

    @classmethod
    def from_env(cls, **options: Any) -> BudgetClient:
        """Configured by BUDGETBOT_URL and BUDGETBOT_TOKEN (and BUDGETBOT_AGENT), options as in __init__."""
        url, token = os.environ.get("BUDGETBOT_URL"), os.environ.get("BUDGETBOT_TOKEN")
        if not url or not token:
            raise ValueError("set BUDGETBOT_URL and BUDGETBOT_TOKEN to use BudgetClient.from_env()")
        options.setdefault("agent", os.environ.get("BUDGETBOT_AGENT"))
        return cls(url, token, **options)

    def __repr__(self) -> str:
        return f"BudgetClient({self.url!r}, agent={self.agent!r})"  # never the token

    def __enter__(self) -> BudgetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- usage ---------------------------------------------------------------------------------

    def record(self, response_or_usage: Any, *, story: str | None, model: str | None = None,
               agent: str | None = None, run_id: str | None = None, event_id: str | None = None,
               outcome: Literal["ok", "error"] = "ok", latency_ms: int | None = None, tool_calls: int = 0,
               attributes: Mapping[str, str] | None = None, reservation_id: str | None = None,
               occurred_at: datetime | str | None = None, provider: str | None = None,
               cost_usd: float | Decimal | str | None = None) -> str:
        """Queue one model call for budgetbot and return its event_id; never blocks on the network, never raises.

        `response_or_usage` is the SDK's response or its usage (OpenAI Chat/Responses, Anthropic,
        Gemini usage_metadata), as an object or a dict. Reading it happens on the sender thread.
        """
        event_id = event_id or str(uuid4())
        try:
            item = {"_raw": response_or_usage, "_at": occurred_at or time(), "event_id": event_id,
                    "story": story, "model": model, "agent": agent or self.agent, "run_id": run_id,
                    "outcome": outcome, "latency_ms": latency_ms, "tool_calls": tool_calls,
                    "attributes": attributes, "reservation_id": reservation_id, "provider": provider,
                    "cost_usd": cost_usd}
            if self._closed:
                self._sender.spool_now([item])
                return event_id
            try:
                self._sender.queue.put_nowait(item)
            except queue.Full:
                if not self._full_warned:
                    log.warning("budgetbot client queue is full: usage events go to %s", self.spool_path)
                    self._full_warned = True
                self._sender.spool_now([item])
        except Exception as exc:  # the agent's call succeeded; losing its accounting must not break it
            log.error("budgetbot client: could not record usage event %s (%s)", event_id, exc)
        return event_id

    def _finish(self, item: dict[str, Any]) -> dict[str, Any]:
        """The JSON event for a queued record (on the sender thread); ValueError means drop it."""
        counts, found_model = usage_fields(item["_raw"])
        model = item["model"] or found_model
        if not model:
            raise ValueError(f"event {item['event_id']}: the response names no model; pass model=")
        event: dict[str, Any] = {"event_id": item["event_id"], "model": model,
                                 "occurred_at": _timestamp(item["_at"])}
        for name in ("story", "agent", "run_id", "latency_ms", "reservation_id", "provider"):
            if item[name] is not None:
                event[name] = item[name]
        if item["outcome"] != "ok":
            event["outcome"] = item["outcome"]
        if item["tool_calls"]:
            event["tool_calls"] = int(item["tool_calls"])
        if item["cost_usd"] is not None:
            cost = item["cost_usd"]
            event["cost_usd"] = str(cost) if isinstance(cost, Decimal) else cost
        attributes = {**self.attributes, **{str(k): str(v) for k, v in (item["attributes"] or {}).items()}}
        if attributes:
            event["attributes"] = attributes
        event.update(counts)
        return event

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything queued or spooled, waiting at most `timeout` s; True when all was delivered."""
        try:
            return self._sender.flush(timeout)
        except Exception as exc:
            log.error("budgetbot client: flush failed (%s)", exc)
            return False

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the sender; what could not be sent stays in the spool for the next run."""
        if self._closed:
            return not self._sender.spool_pending
        self._closed = True
        try:
            return self._sender.close(self.close_timeout if timeout is None else timeout)
        except Exception as exc:
            log.error("budgetbot client: close failed (%s)", exc)
            return False

    def _post_usage(self, events: list[dict[str, Any]]) -> Reply:
        return post_json(f"{self.url}/api/v1/usage", self._token, {"events": events}, self.timeout)

    def _new_sender(self) -> Sender:
        return Sender(self._post_usage, self._spool, self._finish, **self._sender_args)

    def _after_fork(self) -> None:
        # The parent delivers what it had queued; the child starts empty, with a thread of its own (and
        # fresh locks: another thread may have held the old ones at the fork).
        self._spool = Spool(self.spool_path, self._max_spool_bytes)
        self._sender = self._new_sender()

    # --- preflight -----------------------------------------------------------------------------

    def preflight(self, *, story: str | None = None, agent: str | None = None, run_id: str | None = None,
                  model: str | None = None, estimated_tokens: int | None = None,
                  estimated_usd: float | Decimal | str | None = None) -> Decision:
        """Ask budgetbot whether the next model call may go ahead. Never raises.

        When budgetbot cannot be asked, the answer is `allow` (fail_open, logged) or `block` (fail-closed),
        with `reached=False`.
        """
        body: dict[str, Any] = {k: v for k, v in (("story", story), ("agent", agent or self.agent),
                                                  ("run_id", run_id), ("model", model)) if v is not None}
        estimates: dict[str, Any] = {}
        if estimated_tokens is not None:
            estimates["estimated_tokens"] = int(estimated_tokens)
        if estimated_usd is not None:
            estimates["estimated_usd"] = str(estimated_usd) if isinstance(estimated_usd, Decimal) else estimated_usd
        if monotonic() < self._no_preflight_until:
            return self._no_preflight()
        try:
            reply = self._ask({**body, **estimates} if estimates and not self._estimates_unsupported else body)
            if reply.status == 404:
                # A budgetbot from before preflight (or a url that is not budgetbot's): said once, and not asked
                # again before every model call; asked again later, as the server may have been upgraded.
                self._no_preflight_until = monotonic() + NO_PREFLIGHT_RECHECK_SECONDS
                decision = self._no_preflight()
                log.warning("%s", decision.reasons[0].message)
                return decision
            if estimates and not self._estimates_unsupported and _only_estimates_rejected(reply):
                # An older server: it judges without the estimates rather than not at all.
                log.info("this budgetbot does not take estimated_tokens/estimated_usd yet; asking without them")
                self._estimates_unsupported = True
                reply = self._ask(body)
            if reply.ok and isinstance(reply.body, dict):
                return Decision.from_json(reply.body)
            message = reply.body.get("message") if isinstance(reply.body, dict) else None
            return self._unanswered(f"HTTP {reply.status}" + (f": {message}" if message else ""))
        except Unreachable as exc:
            return self._unanswered(str(exc))
        except Exception as exc:
            return self._unanswered(f"{type(exc).__name__}: {exc}")

    def _ask(self, body: dict[str, Any]) -> Reply:
        """One preflight, with one quick retry for a dropped connection or a 5xx, within preflight_timeout."""
        deadline = monotonic() + self.preflight_timeout
        url = f"{self.url}/api/v1/preflight"
        try:
            reply = post_json(url, self._token, body, self.preflight_timeout)
            if not reply.retryable or reply.status == 429:
                return reply
        except Unreachable:
            if deadline - monotonic() < 0.1:
                raise
        return post_json(url, self._token, body, max(0.1, deadline - monotonic()))

    def _no_preflight(self) -> Decision:
        decision: DecisionValue = ALLOW if self.fail_open else BLOCK
        policy = "fail_open" if self.fail_open else "fail-closed (fail_open=False)"
        message = (f"{self.url} has no POST /api/v1/preflight (HTTP 404): upgrade budgetbot (or check the url); "
                   f"{decision} by the {policy} policy, recording goes on")
        return Decision(decision, (Reason("preflight_unsupported", message, decision),), reached=False)

    def _unanswered(self, why: str) -> Decision:
        decision: DecisionValue = ALLOW if self.fail_open else BLOCK
        policy = "fail_open" if self.fail_open else "fail-closed (fail_open=False)"
        message = f"budgetbot could not be asked ({why}); {decision} by the {policy} policy"
        now = monotonic()
        if now - self._last_degraded_log > 60:  # once a minute, not once per model call
            log.warning("%s", message)
            self._last_degraded_log = now
        return Decision(decision, (Reason("budgetbot_unreachable", message, decision),), reached=False)

    # --- guard -----------------------------------------------------------------------------------

    def guard(self, *, story: str | None = None, agent: str | None = None, run_id: str | None = None,
              model: str | None = None, estimated_tokens: int | None = None,
              estimated_usd: float | Decimal | str | None = None, record_result: bool = False) -> Guard:
        """Preflight as a context manager or decorator: raises BudgetExceeded on `block`; see Guard."""
        return Guard(self, story=story, agent=agent, run_id=run_id, model=model,
                     estimated_tokens=estimated_tokens, estimated_usd=estimated_usd, record_result=record_result)


def _only_estimates_rejected(reply: Reply) -> bool:
    if reply.status != 400 or not isinstance(reply.body, dict):
        return False
    paths = {str(e.get("path")) for e in reply.body.get("errors") or [] if isinstance(e, dict)}
    return bool(paths) and paths <= set(_ESTIMATES)


def _timestamp(value: Any) -> str:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC).isoformat()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.astimezone()).isoformat()  # naive: the machine's local time
    return str(value)


def _close_at_exit(ref: weakref.ref[BudgetClient]) -> None:
    client = ref()
    if client is not None:
        client.close()


def _reset_after_fork() -> None:
    for client in list(_clients):
        if not client._closed:
            client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
