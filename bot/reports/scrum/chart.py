"""The sprint burn-down chart (remaining budget, ideal line, projection), drawn by the shared renderer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.reports.charts import line_chart
from bot.reports.format import NANO, day_label
from bot.reports.scrum.burndown import budget_unit
from bot.reports.scrum.digest_data import SprintFacts


def burndown_series(facts: SprintFacts, now: datetime) -> tuple[str, list[str], dict[str, Sequence[float | None]]]:
    """(unit label, x labels, series): remaining budget per day so far, the ideal line, and the projection."""
    unit = budget_unit(facts.stories)
    budgeted = [s for s in facts.stories if s.budget(unit)]
    scale = float(NANO) if unit == "usd" else 1.0
    days = facts.window.days()
    budget = sum(s.budget(unit) or 0 for s in budgeted)
    spent = sum(s.spent(unit) - s.in_sprint(unit) for s in budgeted)  # carried in from earlier sprints
    remaining: list[float | None] = []
    for day in days:
        if day > facts.window.local_day(now):
            remaining.append(None)
            continue
        spent += sum((s.daily.get(day, (0, 0))[1] if unit == "usd" else s.daily.get(day, (0, 0))[0])
                     for s in budgeted)
        remaining.append((budget - spent) / scale)
    last = len(days) - 1
    ideal = [budget * (1 - i / last) / scale if last else budget / scale for i in range(len(days))]
    projected: list[float | None] = [None] * len(days)
    done = [(i, v) for i, v in enumerate(remaining) if v is not None]
    if len(done) >= 2:  # a rate needs at least a day behind it
        today, left = done[-1]
        start_left = ideal[0] - (sum(s.spent(unit) - s.in_sprint(unit) for s in budgeted) / scale)
        rate = (start_left - left) / (today + 1)
        projected[today:] = [left - rate * (i - today) for i in range(today, len(days))]
    return ("USD" if unit == "usd" else "tokens"), [day_label(d) for d in days], {
        "remaining": remaining, "ideal": ideal, "projected": projected}


def burndown_png(facts: SprintFacts, now: datetime) -> bytes:
    unit, labels, series = burndown_series(facts, now)
    return line_chart(f"{facts.window.name}: remaining budget ({unit})", labels, series, y_label=unit,
                      dashed=("ideal", "projected"))
