"""Retro figures as pure functions over plain data: scorecard, estimate accuracy, unit economics, showback, budgets."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from bot.ledger.budgets import Status, Verdict, judge

FAILED_GOAL_RATIO = 3  # seed 000: a story that burns 300% of its budget is a failed sprint goal
PASSED = (Status.OK, Status.WARNING)


@dataclass(frozen=True)
class Totals:
    """Summed ledger figures. `nano_usd` counts priced events only; `unpriced_events` says what it misses."""

    events: int = 0
    unpriced_events: int = 0
    tokens: int = 0  # input + output, as the budgets count them
    nano_usd: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Totals) -> Totals:
        # Field by field: the report adds a few thousand of these, and a generator over tuples cost 3x as much.
        return Totals(self.events + other.events, self.unpriced_events + other.unpriced_events,
                      self.tokens + other.tokens, self.nano_usd + other.nano_usd,
                      self.input_tokens + other.input_tokens, self.cache_read_tokens + other.cache_read_tokens)

    @property
    def all_unpriced(self) -> bool:
        return self.events > 0 and self.unpriced_events == self.events


def total(items: Iterable[Totals]) -> Totals:
    return sum(items, Totals())


@dataclass(frozen=True)
class PrCheck:
    """The story's PR check as the GitHub integration last posted it; "unknown" without that data."""

    conclusion: str = "unknown"
    override_by: str | None = None
    override_at: str | None = None

    @property
    def overridden(self) -> bool:
        return self.override_by is not None


@dataclass(frozen=True)
class StoryFacts:
    key: str
    project: str
    summary: str | None
    points: float | None
    resolved: bool
    budget_tokens: int | None
    budget_nano_usd: int | None
    spent: Totals  # lifetime: what the budget is judged against
    in_period: Totals = Totals()  # what the story spent inside the report's period
    check: PrCheck = PrCheck()
    approved: bool = False  # a standing approval of the overrun in the core (CLI, API or GitHub)


@dataclass(frozen=True)
class ScoreLine:
    facts: StoryFacts
    verdict: Verdict
    ratio: Decimal | None  # actual / budget, the worse of tokens and USD; None without a budget
    failed_goal: bool


def score(stories: Iterable[StoryFacts], warn_threshold: Decimal) -> list[ScoreLine]:
    """One scorecard line per story, worst first, with `judge` (the one status function) deciding status."""
    lines = []
    for story in stories:
        # Dollars of a story whose every event is unpriced are unknown, not zero: no USD ratio then.
        usd_spent = None if story.spent.all_unpriced else story.spent.nano_usd
        pairs = [(spent, budget) for spent, budget in ((story.spent.tokens, story.budget_tokens),
                                                        (usd_spent, story.budget_nano_usd))
                 if spent is not None and budget is not None and budget > 0]
        verdict = judge(budget_tokens=story.budget_tokens, budget_nano_usd=story.budget_nano_usd,
                        spent_tokens=story.spent.tokens, spent_nano_usd=story.spent.nano_usd,
                        warn_threshold=warn_threshold, overridden=story.check.overridden or story.approved,
                        unpriced_events=story.spent.unpriced_events)
        ratio = max((Decimal(spent) / Decimal(budget) for spent, budget in pairs), default=None)
        failed = any(spent >= FAILED_GOAL_RATIO * budget for spent, budget in pairs)  # exact, no rounding
        lines.append(ScoreLine(story, verdict, ratio, failed))
    lines.sort(key=lambda line: (line.ratio is None, -(line.ratio or 0), -line.facts.spent.nano_usd,
                                 line.facts.key))
    return lines


@dataclass(frozen=True)
class Scorecard:
    budgeted: int
    passed: int  # within budget: ok or warning
    over: int
    overridden: int
    failed_goals: list[str]
    pass_rate: Decimal | None  # passed / measured budgeted stories
    unmeasured: int = 0  # a dollar budget with unpriced spend: neither passed nor failed


def scorecard(lines: list[ScoreLine]) -> Scorecard:
    budgeted = [line for line in lines if line.verdict.status != Status.NO_BUDGET]
    passed = sum(1 for line in budgeted if line.verdict.status in PASSED)
    unmeasured = sum(1 for line in budgeted if line.verdict.status == Status.UNPRICED)
    measured = len(budgeted) - unmeasured
    return Scorecard(
        budgeted=len(budgeted), passed=passed,
        over=sum(1 for line in budgeted if line.verdict.status == Status.OVER),
        overridden=sum(1 for line in budgeted if line.verdict.status == Status.OVERRIDDEN),
        failed_goals=[line.facts.key for line in lines if line.failed_goal],
        pass_rate=Decimal(passed) / measured if measured else None, unmeasured=unmeasured)


@dataclass(frozen=True)
class Accuracy:
    ratios: list[tuple[str, Decimal]]
    median: Decimal | None
    p25: Decimal | None
    p75: Decimal | None
    low: Decimal | None
    high: Decimal | None
    no_budget: list[str]
    unmeasured: list[str]  # a budget, but only in USD and every event unpriced


def quartiles(values: list[Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    """p25, median, p75 by linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    q1, q2, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return Decimal(q1), Decimal(q2), Decimal(q3)


def accuracy(lines: list[ScoreLine]) -> Accuracy:
    ratios = [(line.facts.key, line.ratio) for line in lines if line.ratio is not None]
    no_budget = sorted(line.facts.key for line in lines if line.verdict.status == Status.NO_BUDGET)
    unmeasured = sorted(line.facts.key for line in lines
                        if line.ratio is None and line.verdict.status != Status.NO_BUDGET)
    if not ratios:
        return Accuracy([], None, None, None, None, None, no_budget, unmeasured)
    values = [ratio for _, ratio in ratios]
    p25, median, p75 = quartiles(values)
    return Accuracy(ratios, median, p25, p75, min(values), max(values), no_budget, unmeasured)


@dataclass(frozen=True)
class UnitEconomics:
    resolved: int
    resolved_spend: Totals  # lifetime spend of the stories resolved by the period's end
    per_resolved_nano: Decimal | None
    fully_loaded_nano: Decimal | None  # everything spent in the period / resolved stories
    points: Decimal
    per_point_nano: Decimal | None
    pointed_spend: Totals


def unit_economics(lines: list[ScoreLine], period_spend: Totals) -> UnitEconomics:
    resolved = [line.facts for line in lines if line.facts.resolved]
    spend = total(story.spent for story in resolved)
    pointed = [story for story in resolved if story.points]
    points = sum((Decimal(str(story.points)) for story in pointed), Decimal(0))
    pointed_spend = total(story.spent for story in pointed)
    n = len(resolved)
    return UnitEconomics(
        resolved=n, resolved_spend=spend,
        per_resolved_nano=_per(spend, n), fully_loaded_nano=_per(period_spend, n),
        points=points, per_point_nano=_per(pointed_spend, points), pointed_spend=pointed_spend)


def _per(spend: Totals, count: int | Decimal) -> Decimal | None:
    # No denominator, or nothing priced to divide: "unpriced" or "-", never $0.
    if not count or spend.all_unpriced:
        return None
    return Decimal(spend.nano_usd) / Decimal(count)


@dataclass(frozen=True)
class Share:
    name: str
    totals: Totals


def breakdown(rows: Iterable[tuple[str | None, Totals]], none_label: str = "(none)") -> list[Share]:
    """Sum `(name, totals)` pairs by name, biggest spend first."""
    sums: dict[str, Totals] = defaultdict(Totals)
    for name, totals in rows:
        label = none_label if name in (None, "") else str(name)
        sums[label] = sums[label] + totals
    return sorted((Share(name, totals) for name, totals in sums.items()),
                  key=lambda s: (-s.totals.nano_usd, -s.totals.tokens, s.name))


@dataclass(frozen=True)
class Suggestion:
    group: str
    stories: int
    median_tokens: int
    suggested_tokens: int
    median_nano_usd: int | None  # None when fewer than the minimum stories were fully priced
    suggested_nano_usd: int | None


@dataclass
class Suggestions:
    method: str
    groups: list[Suggestion] = field(default_factory=list)
    too_few: list[str] = field(default_factory=list)


SUGGESTION_METHOD = ("75th percentile (linear interpolation) of what resolved stories of the same size actually "
                     "spent over their lifetime, in this period and the earlier ones shown in the trend, rounded "
                     "up to 2 significant figures: about 3 in 4 similar stories would have fit. Size is the story "
                     "points; unpointed stories are grouped by project. Groups with fewer than {n} stories get no "
                     "suggestion. USD comes only from stories with no unpriced events.")


def suggest_budgets(stories: Iterable[StoryFacts], min_group: int = 3) -> Suggestions:
    groups: dict[str, list[StoryFacts]] = defaultdict(list)
    for story in stories:
        if story.resolved and story.spent.events:
            groups[_size_group(story)].append(story)
    result = Suggestions(SUGGESTION_METHOD.format(n=min_group))
    for name in sorted(groups, key=_group_order):
        members = groups[name]
        if len(members) < min_group:
            result.too_few.append(f"{name} ({len(members)})")
            continue
        _, median_tokens, p75_tokens = quartiles([Decimal(s.spent.tokens) for s in members])
        priced = [Decimal(s.spent.nano_usd) for s in members if s.spent.unpriced_events == 0]
        median_usd = p75_usd = None
        if len(priced) >= min_group:
            _, median_usd, p75_usd = quartiles(priced)
        result.groups.append(Suggestion(
            name, len(members), int(median_tokens), round_up(p75_tokens, 2),
            None if median_usd is None else int(median_usd),
            None if p75_usd is None else round_up(p75_usd, 2)))
    return result


def _size_group(story: StoryFacts) -> str:
    if story.points:
        return f"{story.points:g} point{'' if story.points == 1 else 's'}"
    return f"{story.project}, unpointed"


def _group_order(name: str) -> tuple:
    head = name.split(" ", 1)[0]
    try:
        return (0, float(head), name)
    except ValueError:
        return (1, 0.0, name)


def round_up(value: Decimal, digits: int) -> int:
    """Round a positive amount up to `digits` significant figures: 123456 -> 130000."""
    if value <= 0:
        return 0
    exponent = math.floor(math.log10(value)) - digits + 1
    step = Decimal(10) ** exponent
    return int((value / step).to_integral_value(rounding=ROUND_CEILING) * step)


def context_growth(days: list[tuple[str, int, int]]) -> Decimal | None:
    """Input tokens per call on the last active day over the first (`days`: (day, calls, input tokens))."""
    active = [(calls, tokens) for _, calls, tokens in days if calls]
    if len(active) < 2 or active[0][1] == 0:
        return None
    first = Decimal(active[0][1]) / active[0][0]
    last = Decimal(active[-1][1]) / active[-1][0]
    return last / first


@dataclass(frozen=True)
class Headline:
    """The figures the trend compares across periods."""

    label: str
    spend: Totals  # everything spent inside the period, stories or not
    stories: int
    resolved: int
    card: Scorecard
    cache_share: Decimal | None
    per_resolved_nano: Decimal | None


def headline(label: str, lines: list[ScoreLine], period_spend: Totals) -> Headline:
    share = (Decimal(period_spend.cache_read_tokens) / period_spend.input_tokens
             if period_spend.input_tokens else None)
    economics = unit_economics(lines, period_spend)
    return Headline(label, period_spend, len(lines), economics.resolved, scorecard(lines), share,
                    economics.per_resolved_nano)
