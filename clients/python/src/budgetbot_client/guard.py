"""guard(): preflight around one model call, as a context manager or a decorator, recording on exit."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar, Token
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from budgetbot_client.decision import BudgetExceeded, Decision

if TYPE_CHECKING:
    from budgetbot_client.client import BudgetClient

P = ParamSpec("P")
R = TypeVar("R")
_current: ContextVar[GuardHandle | None] = ContextVar("budgetbot_guard", default=None)


def current_guard() -> GuardHandle | None:
    """The handle of the innermost guard around this code (for functions under @client.guard(...))."""
    return _current.get()


class GuardHandle:
    """What `with client.guard(...) as handle` yields: the Decision, and record() for the call's usage."""

    def __init__(self, guard: Guard, decision: Decision) -> None:
        self.decision = decision
        self._guard = guard
        self._pending: list[tuple[Any, dict[str, Any]]] = []

    def record(self, response_or_usage: Any, **fields: Any) -> None:
        """Record this response's usage when the guard exits (as `error` if the block raised).

        `fields` are record()'s keywords (model, latency_ms, tool_calls...); story, agent and run_id come
        from the guard.
        """
        self._pending.append((response_or_usage, fields))

    def _close(self, failed: bool) -> None:
        guard = self._guard
        common: dict[str, Any] = {"story": guard.story, "agent": guard.agent, "run_id": guard.run_id,
                                  "reservation_id": self.decision.reservation_id}
        if failed:
            common["outcome"] = "error"
        pending = self._pending
        if failed and not pending and guard.model:
            # A failed call with no usage still counts: budgetbot blocks runs whose calls keep failing.
            pending = [({"input_tokens": 0, "output_tokens": 0}, {})]
        for response, fields in pending:
            fields = {**common, **fields}
            fields.setdefault("model", guard.model)
            guard.client.record(response, **fields)


class Guard:
    """Ask preflight on entry; raise BudgetExceeded on `block`; record the handle's usage on exit."""

    def __init__(self, client: BudgetClient, *, story: str | None, agent: str | None, run_id: str | None,
                 model: str | None, estimated_tokens: int | None, estimated_usd: float | Decimal | str | None,
                 record_result: bool) -> None:
        self.client = client
        self.story, self.agent, self.run_id, self.model = story, agent, run_id, model
        self.estimated_tokens, self.estimated_usd = estimated_tokens, estimated_usd
        self.record_result = record_result
        # One guard object may be entered by several threads or tasks at once, and nested.
        self._open: ContextVar[tuple[tuple[GuardHandle, Token[GuardHandle | None]], ...]] = \
            ContextVar(f"budgetbot_guard_{id(self)}", default=())

    def _enter(self) -> GuardHandle:
        decision = self.client.preflight(story=self.story, agent=self.agent, run_id=self.run_id,
                                         model=self.model, estimated_tokens=self.estimated_tokens,
                                         estimated_usd=self.estimated_usd)
        if decision.blocked:
            raise BudgetExceeded(decision)
        return GuardHandle(self, decision)

    def __enter__(self) -> GuardHandle:
        handle = self._enter()
        self._open.set((*self._open.get(), (handle, _current.set(handle))))
        return handle

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        *rest, (handle, token) = self._open.get()
        self._open.set(tuple(rest))
        _current.reset(token)
        handle._close(failed=exc_type is not None and not issubclass(exc_type, BudgetExceeded))

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a function that makes one model call: preflight before every call of it."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                # preflight is a blocking HTTP call: keep it off the event loop.
                handle = await asyncio.to_thread(self._enter)
                return await self._run_async(handle, cast(Callable[..., Any], fn), args, kwargs)
            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            handle = self._enter()
            token = _current.set(handle)
            try:
                result = fn(*args, **kwargs)
            except BudgetExceeded:
                raise  # an inner guard said no: no model call happened
            except BaseException:
                handle._close(failed=True)
                raise
            finally:
                _current.reset(token)
            if self.record_result and result is not None:
                handle.record(result)
            handle._close(failed=False)
            return result
        return run

    async def _run_async(self, handle: GuardHandle, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        token = _current.set(handle)
        try:
            result = await fn(*args, **kwargs)
        except BudgetExceeded:
            raise
        except BaseException:
            handle._close(failed=True)
            raise
        finally:
            _current.reset(token)
        if self.record_result and result is not None:
            handle.record(result)
        handle._close(failed=False)
        return result
