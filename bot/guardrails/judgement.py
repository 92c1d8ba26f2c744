"""The pure preflight judgement: figures + limits (+ the coming call's estimate) -> reasons and what is left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.guardrails.policy import Limits
from bot.guardrails.shapes import ALLOW, BLOCK, RANK, WARN, Figures, Reason, Spent
from bot.ledger.budgets import nano_to_usd, usd_to_nano


def money(nano: int) -> str:
    # The exact decimal (policy figures and verdict payloads are data); not bot.reports.format.money.
    return f"{nano_to_usd(nano):f}"


def _show(value: int, unit: str) -> str:
    if unit == "usd":  # exact, unrounded: a reason must show the very limit that was crossed
        return f"${nano_to_usd(value):,f}"
    if unit == "seconds":
        return f"{value // 60:,} min" if value >= 60 else f"{value} s"
    return f"{value:,} {unit.replace('_', ' ')}"


def _pair(used: int, limit: int, unit: str) -> str:
    """"48,200 of 50,000 tokens", "$4.1 of $5", "31 min of 30 min"."""
    if unit in ("usd", "seconds"):
        return f"{_show(used, unit)} of {_show(limit, unit)}"
    return f"{used:,} of {_show(limit, unit)}"


@dataclass(frozen=True)
class Estimate:
    tokens: int = 0
    nano_usd: int = 0

    @classmethod
    def of(cls, tokens: int | None, usd: Decimal | None) -> Estimate:
        return cls(tokens or 0, usd_to_nano(usd) if usd else 0)


def cap(code: str, who: str, used: int, limit: int | None, unit: str, warn_at: Decimal, coming: int = 0,
        block_from: int | None = None, strict: bool = False) -> Reason | None:
    """One numeric cap: block when it is reached (or the coming call would pass it), warn from `warn_at`.

    `block_from` lowers the blocking point (the month blocks at 90% of its budget); `strict` blocks only
    above it (a story is over *above* 100%, as its status says)."""
    if limit is None:
        return None
    stop = limit if block_from is None else block_from
    figure = f"{who} used {_pair(used, limit, unit)}"
    shown_limit: int | str = money(limit) if unit == "usd" else limit
    shown_used: int | str = money(used) if unit == "usd" else used
    if used > stop or (used == stop and not strict):
        extra = f" (blocks at {_show(stop, unit)})" if stop != limit else ""
        return Reason(code, BLOCK, figure + extra, shown_limit, shown_used, unit)
    if coming and used + coming > stop:
        return Reason(code, BLOCK, f"{figure}; this call's estimated {_show(coming, unit)} would pass "
                      f"{_show(stop, unit)}", shown_limit, shown_used, unit)
    if used >= warn_at * limit:
        return Reason(code, WARN, figure, shown_limit, shown_used, unit)
    return None


def _used(spent: Spent, unit: str) -> int:
    if unit == "tokens":
        return spent.tokens + spent.reserved_tokens
    if unit == "usd":
        return spent.nano_usd + spent.reserved_nano_usd
    return spent.calls


def _coming(estimate: Estimate, unit: str) -> int:
    return {"tokens": estimate.tokens, "usd": estimate.nano_usd, "calls": 1}.get(unit, 0)


def judge(figures: Figures, limits: Limits, estimate: Estimate = Estimate(), *,
          block_unpriced: bool = False) -> list[Reason]:
    """Every reason not to simply allow the coming call (empty: allow)."""
    reasons: list[Reason | None] = []
    for label, why, by in figures.breakers:
        reasons.append(Reason("kill_switch", BLOCK, f"kill switch on {label}: {why}" + (f" (by {by})" if by else "")))
    reasons += _story(figures, limits, estimate, block_unpriced)
    run = figures.run
    if run is not None:
        who = f"run {run.run_id}"
        for code, unit, limit in (("run_tokens", "tokens", limits.run_max_tokens),
                                  ("run_usd", "usd", limits.run_max_nano_usd)):
            reasons.append(cap(code, who, _used(run.spent, unit), limit, unit, limits.warn_at,
                               _coming(estimate, unit)))
        reasons.append(cap("run_tool_calls", who, run.tool_calls, limits.run_max_tool_calls, "tool_calls",
                           limits.warn_at))
        reasons.append(cap("run_wall_time", who, _elapsed(run.first_event_at, figures.now),
                           limits.run_max_wall_seconds, "seconds", limits.warn_at))
        if run.errors_since_ok >= limits.max_consecutive_errors:
            reasons.append(Reason("consecutive_errors", BLOCK,
                                  f"the last {run.errors_since_ok} calls of {who} failed: likely a loop",
                                  limits.max_consecutive_errors, run.errors_since_ok, "errors"))
    for prefix, who, spent in (("agent_day", "agent", figures.agent_day), ("org_day", "the organisation",
                                                                          figures.org_day)):
        who = f"{who} on {figures.day}"
        for unit in ("tokens", "usd", "calls"):
            name = "day" if prefix == "agent_day" else prefix
            limit = getattr(limits, f"{name}_max_{'nano_usd' if unit == 'usd' else unit}")
            reasons.append(cap(f"{prefix}_{unit}", who, _used(spent, unit), limit, unit, limits.warn_at,
                               _coming(estimate, unit)))
    budget = limits.month_budget_nano_usd
    if budget is not None:
        reasons.append(cap("month_usd", f"the organisation in {figures.month}", _used(figures.month_spent, "usd"),
                           budget, "usd", limits.month_warn_at, estimate.nano_usd,
                           block_from=int(limits.month_block_at * budget)))
    return [r for r in reasons if r is not None]


def _story(figures: Figures, limits: Limits, estimate: Estimate, block_unpriced: bool) -> list[Reason | None]:
    story = figures.story
    if story is None:
        return []
    if story.status == "overridden":  # a human approved the overrun: say so, never block on the budget
        return [Reason("story_overridden", WARN, f"{story.key} is over budget with an approved override")]
    reasons: list[Reason | None] = []
    if story.status == "unpriced":
        reasons.append(Reason("story_unpriced", BLOCK if block_unpriced else WARN,
                              f"{story.key} has calls with no known price, so its dollar spend is unknown"))
    for unit, budget in (("tokens", story.budget_tokens), ("usd", story.budget_nano_usd)):
        if budget is None:
            continue
        used = _used(story.spent, unit)
        reasons.append(cap(f"story_budget_{unit}", story.key, used, budget, unit, limits.warn_at,
                           _coming(estimate, unit), strict=True))
    return reasons


def _elapsed(first: datetime | None, now: datetime) -> int:
    return 0 if first is None else max(0, int((now - first).total_seconds()))


def decide(reasons: list[Reason]) -> str:
    return max((r.decision for r in reasons), key=RANK.__getitem__, default=ALLOW)


def remaining(figures: Figures, limits: Limits) -> dict:
    """Tokens and dollars left (reservations of other calls deducted) for the story, the run, the day, the month."""

    def left(spent: Spent, tokens_cap: int | None, nano_cap: int | None) -> dict:
        return {"tokens": None if tokens_cap is None else max(0, tokens_cap - _used(spent, "tokens")),
                "usd": None if nano_cap is None else money(max(0, nano_cap - _used(spent, "usd")))}

    story = figures.story
    run = figures.run
    agent = left(figures.agent_day, limits.day_max_tokens, limits.day_max_nano_usd)
    org = left(figures.org_day, limits.org_day_max_tokens, limits.org_day_max_nano_usd)
    day = {unit: _tighter(agent[unit], org[unit]) for unit in ("tokens", "usd")}
    month_cap = None if limits.month_budget_nano_usd is None else int(limits.month_block_at
                                                                      * limits.month_budget_nano_usd)
    return {
        "story": left(story.spent, story.budget_tokens, story.budget_nano_usd) if story else _nothing(),
        "run": left(run.spent, limits.run_max_tokens, limits.run_max_nano_usd) if run else _nothing(),
        "day": day,
        "month": {"usd": left(figures.month_spent, None, month_cap)["usd"]},
    }


def _nothing() -> dict:
    return {"tokens": None, "usd": None}


def _tighter(a, b):
    if a is None or b is None:
        return b if a is None else a
    return min(a, b, key=Decimal)
