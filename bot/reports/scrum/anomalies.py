"""Anomaly rules: pure functions over plain numbers that say whether something looks like a runaway agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from bot.reports.format import day_label, money


@dataclass(frozen=True)
class Finding:
    """What a rule found; (rule, subject, day) is the deduplication key of the alert it becomes."""

    rule: str
    subject: str  # org | agent:NAME | person:NAME | run:ID
    day: date
    message: str
    story_key: str | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    story_key: str | None
    agent: str | None
    model: str | None
    nano_usd: int
    events: int
    tool_calls: int
    errors: int
    max_error_streak: int
    last_event_at: datetime


def label(subject: str) -> str:
    kind, _, name = subject.partition(":")
    return {"org": "the organisation", "agent": f"agent {name}", "person": name, "run": f"run {name}"}.get(
        kind, subject)


def spend_spike(subject: str, daily: dict[date, int], day: date, *, factor: Decimal, rolling_pct: Decimal,
                rolling_days: int, min_nano: int) -> Finding | None:
    """Spend on `day` over `factor` x the trailing 7-day average AND over `rolling_pct`% of the rolling
    `rolling_days` average (0 turns that second test off). Days without spend count as 0. A subject with no
    spend in the trailing week is left to `budget_share`: any first day would otherwise be an "infinite" spike."""
    spent = daily.get(day, 0)
    if spent < max(min_nano, 1):
        return None
    week = Decimal(sum(daily.get(day - timedelta(days=n), 0) for n in range(1, 8))) / 7
    rolling = Decimal(sum(daily.get(day - timedelta(days=n), 0) for n in range(1, rolling_days + 1))) / rolling_days
    if week <= 0 or spent <= factor * week:
        return None
    if rolling_pct > 0 and spent * 100 <= rolling_pct * rolling:
        return None
    return Finding("spend_spike", subject, day,
                   f"{_cap(label(subject))} spent {money(spent)} on {day_label(day)}: "
                   f"{Decimal(spent) / week:.1f}x the trailing 7-day average of {money(int(week))}",
                   details={"spent_nano": spent, "week_avg_nano": int(week), "rolling_avg_nano": int(rolling)})


def run_cost(run: RunFacts, *, max_nano: int) -> Finding | None:
    """A single agent run costing more than the threshold (default $1)."""
    if run.nano_usd <= max_nano:
        return None
    return Finding("run_cost", f"run:{run.run_id}", run.last_event_at.date(),
                   f"Run {run.run_id} ({run.agent or 'unknown agent'}{_on(run.story_key)}) has cost "
                   f"{money(run.nano_usd)} over {run.events:,} call{'s' if run.events != 1 else ''}, "
                   f"above the {money(max_nano)} limit per run",
                   story_key=run.story_key, details={"nano_usd": run.nano_usd, "events": run.events})


def runaway_run(run: RunFacts, *, error_streak: int, max_tool_calls: int) -> Finding | None:
    """The runaway-loop signature: `error_streak` `error` outcomes in a row, or more than `max_tool_calls`."""
    reasons = []
    if run.max_error_streak >= error_streak:
        reasons.append(f"{run.max_error_streak} consecutive error outcomes")
    if run.tool_calls > max_tool_calls:
        reasons.append(f"{run.tool_calls:,} tool calls (limit {max_tool_calls:,})")
    if not reasons:
        return None
    return Finding("runaway_run", f"run:{run.run_id}", run.last_event_at.date(),
                   f"Run {run.run_id} ({run.agent or 'unknown agent'}{_on(run.story_key)}) looks like a runaway "
                   f"loop: {' and '.join(reasons)}; {money(run.nano_usd)} so far",
                   story_key=run.story_key,
                   details={"max_error_streak": run.max_error_streak, "tool_calls": run.tool_calls})


def budget_share(subject: str, spent_nano: int, daily_budget_nano: int | None, day: date, *,
                 pct: Decimal) -> Finding | None:
    """One agent or person spending more than `pct`% of the whole daily budget in a day."""
    if not daily_budget_nano or spent_nano * 100 <= pct * daily_budget_nano:
        return None
    share = Decimal(spent_nano) * 100 / daily_budget_nano
    return Finding("budget_share", subject, day,
                   f"{_cap(label(subject))} spent {money(spent_nano)} on {day_label(day)}: {share:.0f}% of "
                   f"the daily budget of {money(daily_budget_nano)} (limit {pct:g}%)",
                   details={"spent_nano": spent_nano, "daily_budget_nano": daily_budget_nano})


def cost_jump(agent: str, today: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]], day: date, *,
              factor: Decimal, min_events: int) -> Finding | None:
    """An agent whose cost per call rose `factor`x on `day` while it used a model it had not used in the
    days before: a model change that made every call dearer. `today`/`before`: model -> (nano_usd, calls)."""
    new_models = sorted(set(today) - set(before))
    calls_today, calls_before = sum(c for _, c in today.values()), sum(c for _, c in before.values())
    if not new_models or calls_today < min_events or calls_before < min_events:
        return None
    per_call_today = Decimal(sum(n for n, _ in today.values())) / calls_today
    per_call_before = Decimal(sum(n for n, _ in before.values())) / calls_before
    if per_call_before <= 0 or per_call_today < factor * per_call_before:
        return None
    old_models = ", ".join(sorted(before)) or "none"
    return Finding("cost_jump", f"agent:{agent}", day,
                   f"Agent {agent}'s cost per call went from {money(int(per_call_before), places=4)} to "
                   f"{money(int(per_call_today), places=4)} ({per_call_today / per_call_before:.1f}x) after "
                   f"switching to {', '.join(new_models)} (before: {old_models})",
                   details={"new_models": new_models, "per_call_before_nano": int(per_call_before),
                            "per_call_today_nano": int(per_call_today)})


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]  # not str.capitalize(): it lowercases the rest of a name


def _on(story_key: str | None) -> str:
    return f" on {story_key}" if story_key else ""
