"""LiteLLM integration: BudgetbotGuard asks budgetbot before each call and records the usage LiteLLM computed.

Proxy (config.yaml): ``litellm_settings: {callbacks: ["my_module.budgetbot_guard"]}`` where my_module has
``budgetbot_guard = BudgetbotGuard()`` (BUDGETBOT_URL and BUDGETBOT_TOKEN from the environment).
SDK: ``litellm.callbacks = [BudgetbotGuard()]``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

try:
    import litellm
    from litellm.exceptions import BudgetExceededError
    from litellm.integrations.custom_logger import CustomLogger
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("budgetbot_client.litellm needs LiteLLM: pip install 'budgetbot-client[litellm]'") from exc

from budgetbot_client.client import BudgetClient
from budgetbot_client.decision import BudgetExceeded, Decision, Reason
from budgetbot_client.usage import as_dict

log = logging.getLogger("budgetbot_client")
STORY_HEADER, AGENT_HEADER, RUN_HEADER = "x-budgetbot-story", "x-budgetbot-agent", "x-budgetbot-run-id"
_TAGS = {"story": "story", "agent": "agent", "run": "run_id", "run_id": "run_id"}


class BudgetbotBlocked(BudgetExceededError):
    """LiteLLM's own budget error, raised when budgetbot blocks a call; `reasons` and `decision` say why."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.reasons = decision.reasons
        super().__init__(current_cost=0.0, max_budget=0.0, message=str(BudgetExceeded(decision)))


@dataclass(frozen=True)
class Attribution:
    story: str | None = None
    agent: str | None = None
    run_id: str | None = None


def attribution(request: Mapping[str, Any]) -> Attribution:
    """Story, agent and run of a LiteLLM request: metadata keys, then `story:KEY` tags, then x-budgetbot-* headers.

    `request` is the proxy's `data`, the SDK's call kwargs, or a logging callback's kwargs.
    """
    found: dict[str, str] = {}
    params: Mapping[str, Any] = request.get("litellm_params") or {}
    standard: Mapping[str, Any] = request.get("standard_logging_object") or {}
    metadatas = [m for m in (request.get("metadata"), request.get("litellm_metadata"), params.get("metadata"),
                             params.get("litellm_metadata")) if isinstance(m, Mapping)]
    for metadata in metadatas:
        for field, keys in (("story", ("story", "budgetbot_story")), ("agent", ("agent", "budgetbot_agent")),
                            ("run_id", ("run_id", "budgetbot_run_id"))):
            for key in keys:
                if field not in found and isinstance(metadata.get(key), str) and metadata[key].strip():
                    found[field] = metadata[key].strip()
    tag_lists = [m.get("tags") for m in metadatas] + [request.get("tags"), standard.get("request_tags")]
    for tags in tag_lists:
        for tag in tags if isinstance(tags, (list, tuple)) else ():
            name, sep, value = str(tag).partition(":")
            tagged = _TAGS.get(name.strip().lower())
            if sep and tagged and value.strip():
                found.setdefault(tagged, value.strip())
    server_request = request.get("proxy_server_request")
    header_sets = [m.get("headers") for m in metadatas] + [request.get("headers")]
    if isinstance(server_request, Mapping):
        header_sets.append(server_request.get("headers"))
    for headers in header_sets:
        if isinstance(headers, Mapping):
            lower = {str(k).lower(): v for k, v in headers.items()}
            for field, header in (("story", STORY_HEADER), ("agent", AGENT_HEADER), ("run_id", RUN_HEADER)):
                if isinstance(lower.get(header), str) and lower[header].strip():
                    found.setdefault(field, lower[header].strip())
    return Attribution(**found)


class BudgetbotGuard(CustomLogger):
    """Preflight before each LiteLLM call (blocked: BudgetbotBlocked), one usage event after it."""

    def __init__(self, client: BudgetClient | None = None, *, default_story: str | None = None,
                 require_story: bool = False, **client_options: Any) -> None:
        super().__init__()
        self.client = client or BudgetClient.from_env(**client_options)
        self.default_story = default_story
        self.require_story = require_story
        # Recent litellm_call_ids: asked (the proxy hook, then the router's deployment hook, see one
        # request) and recorded (LiteLLM may run the sync and the async success handler for one call).
        self._asked: OrderedDict[str, None] = OrderedDict()
        self._recorded: OrderedDict[tuple[str, bool], None] = OrderedDict()
        self._lock = threading.Lock()

    # --- before the call -------------------------------------------------------------------------

    def check(self, **request: Any) -> Decision:
        """Ask preflight for this request (litellm.completion's kwargs); raise BudgetbotBlocked on block.

        The sync SDK path has no LiteLLM hook that may refuse a call, so call this (or `completion()`).
        """
        who = self._who(request)
        decision = self._unattributed(who) or self.client.preflight(
            story=who.story, agent=who.agent, run_id=who.run_id, model=request.get("model"))
        return self._judge(request, decision)

    async def acheck(self, **request: Any) -> Decision:
        """check() for async code: the HTTP call to budgetbot runs off the event loop."""
        who = self._who(request)
        decision = self._unattributed(who)
        if decision is None:
            decision = await asyncio.to_thread(functools.partial(
                self.client.preflight, story=who.story, agent=who.agent, run_id=who.run_id, model=request.get("model")))
        return self._judge(request, decision)

    def completion(self, **kwargs: Any) -> Any:
        """litellm.completion(**kwargs) after check()."""
        kwargs.setdefault("litellm_call_id", str(uuid.uuid4()))  # so no later hook asks again
        self.check(**kwargs)
        return litellm.completion(**kwargs)

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict[str, Any],
                                  call_type: Any) -> dict[str, Any]:
        """LiteLLM proxy: runs before every request; raising refuses it with the error shown to the caller."""
        await self._ask_once(data)
        return data

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        """SDK async calls (acompletion, aresponses...): LiteLLM runs this just before sending, and lets it raise."""
        await self._ask_once(kwargs)
        return None  # the request is not changed

    async def _ask_once(self, request: dict[str, Any]) -> None:
        call_id = request.get("litellm_call_id")
        if isinstance(call_id, str) and call_id in self._asked:
            return  # the proxy hook already asked for this request
        await self.acheck(**request)

    def _who(self, request: Mapping[str, Any]) -> Attribution:
        who = attribution(request)
        if who.story is None and self.default_story:
            who = Attribution(self.default_story, who.agent, who.run_id)
        return who

    def _unattributed(self, who: Attribution) -> Decision | None:
        """With require_story, a call that names no story is refused without asking budgetbot."""
        if not self.require_story or who.story is not None:
            return None
        reason = Reason("no_story", "no story for this call: set metadata={'story': 'PROJ-123'}, a "
                        f"'story:PROJ-123' tag or the {STORY_HEADER} header", "block")
        return Decision("block", (reason,), reached=False)

    def _judge(self, request: Mapping[str, Any], decision: Decision) -> Decision:
        if decision.blocked:
            raise BudgetbotBlocked(decision)
        call_id = request.get("litellm_call_id")
        if isinstance(call_id, str):
            _remember(self._asked, call_id, self._lock)
        return decision

    # --- after the call --------------------------------------------------------------------------

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=True)

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=True)  # record() only queues: no await

    def log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=False)

    async def async_log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, ok=False)

    def _record(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any, ok: bool) -> None:
        try:
            if not ok and isinstance(kwargs.get("exception"), BudgetbotBlocked):
                return  # refused by us: no model call happened
            standard = kwargs.get("standard_logging_object") or {}
            call_id = str(kwargs.get("litellm_call_id") or standard.get("litellm_call_id") or "")
            if call_id and self._seen((call_id, ok)):
                return  # LiteLLM may run both the sync and the async handler for one call
            who = self._who(kwargs)
            model = (getattr(response_obj, "model", None) if ok else None) or standard.get("model") \
                or kwargs.get("model")
            latency = None
            if isinstance(start_time, datetime) and isinstance(end_time, datetime):
                latency = max(0, round((end_time - start_time).total_seconds() * 1000))
            started = start_time.timestamp() if isinstance(start_time, datetime) else ""
            self.client.record(
                _usage(response_obj, standard) if ok else {"input_tokens": 0, "output_tokens": 0},
                story=who.story, agent=who.agent, run_id=who.run_id, model=model,
                # Stable per call so a resend counts once; failures of one call id (retries) each count.
                event_id=f"litellm-{call_id}" if ok else f"litellm-{call_id}-error-{started}",
                outcome="ok" if ok else "error", latency_ms=latency, cost_usd=_cost(kwargs, standard) if ok else None,
                provider=standard.get("custom_llm_provider") or kwargs.get("custom_llm_provider"))
        except Exception as exc:  # a logging callback must never break the call it logs
            log.error("budgetbot LiteLLM guard: could not record a call (%s: %s)", type(exc).__name__, exc)

    def _seen(self, key: tuple[str, bool]) -> bool:
        return not _remember(self._recorded, key, self._lock)


def _remember(recent: OrderedDict[Any, None], key: Any, lock: threading.Lock) -> bool:
    """Add key to a bounded set of recent keys; False if it was there already."""
    with lock:
        if key in recent:
            return False
        recent[key] = None
        if len(recent) > 10_000:
            recent.popitem(last=False)
        return True


def _usage(response_obj: Any, standard: Mapping[str, Any]) -> dict[str, Any]:
    """The response's usage as LiteLLM computed it (OpenAI Chat shape), else the logging payload's counts."""
    usage = as_dict(getattr(response_obj, "usage", None) if not isinstance(response_obj, Mapping)
                    else response_obj.get("usage"))
    if not isinstance(usage, Mapping) or not ({"prompt_tokens", "input_tokens"} & usage.keys()):
        return {"prompt_tokens": int(standard.get("prompt_tokens") or 0),
                "completion_tokens": int(standard.get("completion_tokens") or 0)}
    usage = dict(usage)
    # LiteLLM keeps Anthropic's cache writes beside the OpenAI fields; budgetbot reads them inside the details.
    details = dict(as_dict(usage.get("prompt_tokens_details")) or {})
    writes = usage.get("cache_creation_input_tokens")
    fits = isinstance(writes, int) and (details.get("cached_tokens") or 0) + writes <= (usage.get("prompt_tokens") or 0)
    if writes and fits and not details.get("cache_write_tokens"):
        details["cache_write_tokens"] = writes
        usage["prompt_tokens_details"] = details
    return usage


def _cost(kwargs: Mapping[str, Any], standard: Mapping[str, Any]) -> float | None:
    """LiteLLM's response_cost, when it is a real price (0 or missing: let budgetbot price the call)."""
    cost = standard.get("response_cost")
    if cost is None:
        cost = kwargs.get("response_cost")
    if isinstance(cost, (int, float)) and math.isfinite(cost) and cost > 0:
        return float(cost)
    return None
