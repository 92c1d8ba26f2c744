"""Burn-down: projection at the current burn rate and the per-story Jira comment. Pure: plain data in, blocks out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.ledger.budgets import Status
from bot.ledger.days import team_day
from bot.ledger.sprints import entered_by_dates, team_days
from bot.reports.format import amount, day_label, money, pct, tokens

DAY = 86400


@dataclass(frozen=True)
class SprintWindow:
    name: str
    start: datetime | None
    end: datetime | None
    tz: ZoneInfo | None = None  # the team's zone (BUDGETBOT_TIMEZONE): the rollups' days are its days

    def local_day(self, moment: datetime) -> date:
        return team_day(moment, self.tz) if self.tz is not None else moment.date()

    @property
    def dated(self) -> bool:
        return self.start is not None and self.end is not None and self.end > self.start

    def bounds(self) -> tuple[datetime, datetime]:
        """(start, end) of a sprint with dates; callers check `dated` first, an undated sprint is a bug."""
        if self.start is None or self.end is None:
            raise ValueError(f"sprint {self.name!r} has no start and end dates")
        return self.start, self.end

    def days(self) -> list[date]:
        """The sprint's days in the team's zone (the rollups' days), first to last."""
        if not self.dated:
            return []
        start, end = self.bounds()
        if entered_by_dates(start, end):  # the days as typed, in any zone (they are stored as UTC midnights)
            first, last = team_days(start, end, self.tz or ZoneInfo("UTC"))
        else:  # a Jira sprint: from its start's day to its end's day (the end is the moment after the last day)
            first, last = self.local_day(start), self.local_day(end - timedelta(microseconds=1))
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def day_number(self, now: datetime) -> int:
        days = self.days()
        if not days:
            return 1
        return max(1, min(len(days), (self.local_day(now) - days[0]).days + 1))


@dataclass
class StoryBurn:
    """One story's figures as the burn-down needs them. Money in nano-dollars; daily: UTC day -> (tokens, nano)."""

    key: str
    summary: str | None
    assignee: str | None
    status: Status
    budget_tokens: int | None
    budget_nano: int | None
    spent_tokens: int
    spent_nano: int
    daily: dict[date, tuple[int, int]] = field(default_factory=dict)
    window_tokens: int = 0
    window_nano: int = 0
    status_before_window: Status = Status.NO_BUDGET
    top_agents: list[tuple[str, int, int]] = field(default_factory=list)  # (name, nano, tokens)
    top_models: list[tuple[str, int, int]] = field(default_factory=list)

    def spent(self, unit: str) -> int:
        return self.spent_nano if unit == "usd" else self.spent_tokens

    def budget(self, unit: str) -> int | None:
        return self.budget_nano if unit == "usd" else self.budget_tokens

    unpriced_events: int = 0  # spend without a price: the dollar figures leave it out ("+ N unpriced")
    approved: bool = False  # the overrun is approved (status overridden)

    def in_sprint(self, unit: str) -> int:
        return sum(nano if unit == "usd" else toks for toks, nano in self.daily.values())


@dataclass(frozen=True)
class Projection:
    unit: str  # usd | tokens
    budget: int
    spent: int
    rate_per_day: Decimal | None  # None: the sprint is less than a day old, too early to say
    projected_at_end: int
    runs_out_at: datetime | None  # when spend reaches the budget, if before the sprint ends

    @property
    def pct_at_end(self) -> Decimal:
        return Decimal(self.projected_at_end) * 100 / self.budget


def budget_unit(stories: list[StoryBurn]) -> str:
    """Dollars when any story has a dollar budget, else tokens: one unit for sums and the chart."""
    return "usd" if any(s.budget_nano for s in stories) else "tokens"


def project(unit: str, budget: int, spent: int, spent_in_sprint: int, sprint: SprintWindow,
            now: datetime) -> Projection:
    """Straight-line projection: the sprint's spend so far per elapsed day, carried on to the sprint's end."""
    start, end = sprint.bounds()
    elapsed = (min(now, end) - start).total_seconds() / DAY
    remaining = max(0.0, (end - now).total_seconds() / DAY)
    if elapsed < 1:
        return Projection(unit, budget, spent, None, spent, None)
    rate = Decimal(spent_in_sprint) / Decimal(repr(elapsed))
    projected = spent + int(rate * Decimal(repr(remaining)))
    runs_out = None
    if rate > 0 and spent <= budget:
        at = now + timedelta(days=float((budget - spent) / rate))
        runs_out = at if at <= end else None
    return Projection(unit, budget, spent, rate, projected, runs_out)


def triggering_unit(story: StoryBurn) -> str:
    """The budget that decides the story's standing: the one furthest used (tokens when only they are set, or
    when the dollars cannot be judged because of unpriced spend)."""
    units = [u for u in ("usd", "tokens") if story.budget(u) and not (u == "usd" and story.unpriced_events
                                                                       and story.budget("tokens"))]
    if not units:
        return "usd" if story.budget_nano else "tokens"
    return max(units, key=lambda u: (Decimal(story.spent(u)) / Decimal(story.budget(u) or 1), u == "usd"))


def worst_projection(story: StoryBurn, sprint: SprintWindow, now: datetime, unit: str | None = None,
                     ) -> Projection | None:
    """Of the story's token and dollar budgets, the one heading furthest over (or the one `unit` names)."""
    if not sprint.dated:
        return None
    found = [project(u, budget, story.spent(u), story.in_sprint(u), sprint, now)
             for u in ("usd", "tokens") if (budget := story.budget(u)) and unit in (None, u)]
    return max(found, key=lambda p: (p.pct_at_end, p.unit == "usd"), default=None)


def when(at: datetime, now: datetime, tz: ZoneInfo) -> str:
    """`today`, `tomorrow`, `Thursday`, or `Thu 9 Apr` when more than a week away (in the team's zone)."""
    days = (team_day(at, tz) - team_day(now, tz)).days
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days < 7:
        return f"{at.astimezone(tz):%A}"
    return day_label(at.astimezone(tz))


def describe(p: Projection | None, sprint: SprintWindow, now: datetime, tz: ZoneInfo) -> str:
    """One sentence for people: when the budget runs out and where the sprint ends up."""
    if not sprint.dated:
        return f"{sprint.name} has no start and end dates, so there is no projection."
    if p is None:
        return "No budget set, so no projection: set a Token Budget on the story."
    end = f"sprint end ({day_label(sprint.bounds()[1].astimezone(tz))})"
    if p.rate_per_day is None:
        return f"Too early to project: the sprint started less than a day ago. Spent {amount(p.spent, p.unit)} so far."
    rate = f"{amount(int(p.rate_per_day), p.unit)}/day"
    if p.spent > p.budget:
        return (f"Already over budget ({pct(p.spent, p.budget)}). At the current burn rate of {rate}: "
                f"projected {p.pct_at_end:.0f}% of budget at {end}.")
    if p.rate_per_day == 0:
        return f"No spend in this sprint yet: projected {p.pct_at_end:.0f}% of budget at {end}."
    head = (f"At the current burn rate of {rate} the budget runs out {when(p.runs_out_at, now, tz)}"
            if p.runs_out_at else f"At the current burn rate of {rate} the budget lasts the sprint")
    return f"{head}; projected {p.pct_at_end:.0f}% of budget at {end}."


def comment_doc(story: StoryBurn, sprint: SprintWindow, now: datetime, tz: ZoneInfo, story_url: str,
                schedule: str) -> list[dict]:
    """The burn-down comment (Jira comment contract blocks); the Jira sender edits it in place daily."""
    day_part = f" · day {sprint.day_number(now)} of {len(sprint.days())}" if sprint.dated else ""
    doc: list[dict] = [{"type": "heading", "text": f"Token burn-down · {sprint.name}{day_part}"}]
    unpriced = f" + {story.unpriced_events:,} unpriced" if story.unpriced_events else ""
    figures = [f"{amount(budget, unit)} budget, {amount(story.spent(unit), unit)}"
               f"{unpriced if unit == 'usd' else ''} spent "
               f"({pct(story.spent(unit), budget)}), "
               f"{amount(max(budget - story.spent(unit), 0), unit)} remaining"
               for unit in ("usd", "tokens") if (budget := story.budget(unit))]
    if not story.budget_nano:
        figures.append(f"{money(story.spent_nano)}{unpriced} spent")
    if not story.budget_tokens:
        figures.append(f"{tokens(story.spent_tokens)} tokens used")
    status = {Status.OVERRIDDEN: "overridden (overrun approved)",
              Status.UNPRICED: "unpriced (the dollar budget is not checked: models without a price)"}.get(
        story.status, story.status.value.replace("_", " "))
    doc.append({"type": "paragraph", "text": f"Status: {status}. " + "; ".join(figures) + "."})
    doc.append({"type": "paragraph", "text": describe(worst_projection(story, sprint, now), sprint, now, tz)})
    if sprint.dated:
        rows, total = [], story.spent_nano - story.in_sprint("usd")
        today = sprint.local_day(now)
        for day in sprint.days():
            if day > today:
                break
            toks, nano = story.daily.get(day, (0, 0))
            total += nano
            label = f"{day_label(day)} (today)" if day == today else day_label(day)
            rows.append([label, money(nano), tokens(toks), money(total)])
        zone = now.astimezone(sprint.tz).tzname() if sprint.tz is not None else "UTC"  # CET, PST: short
        doc.append({"type": "table", "header": [f"Day ({zone})", "Spent", "Tokens", "Total spent"],
                    "rows": rows[-14:]})
    for title, top in (("Top agents", story.top_agents), ("Top models", story.top_models)):
        if top:
            doc.append({"type": "paragraph", "text": title})
            doc.append({"type": "bullets", "items": [
                f"{name or '(not reported)'}: {money(nano)} ({pct(nano, story.spent_nano)}), {tokens(toks)} tokens"
                for name, nano, toks in top[:5]]})
    doc.append({"type": "link", "text": f"{story.key} in budgetbot", "url": story_url})
    doc.append({"type": "paragraph", "text": f"Updated by budgetbot {schedule}; this comment is edited in place."})
    return doc
