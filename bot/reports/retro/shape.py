"""The retro's JSON shape (schema budgetbot.retro/1): figures to plain dicts of strings, ints and lists.

Money is a decimal string in USD, or null when every event behind it is unpriced (never "0" for unknown).
Percentages are strings with one decimal ("125.0"), ratios strings with two ("1.25").
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from bot.ledger.budgets import NANO
from bot.reports.retro import figures as fig
from bot.reports.retro.period import Period
from bot.reports.retro.savings import Caching, Routing

SCHEMA = "budgetbot.retro/1"
SCORECARD_DEFINITION = ("A story passes the financial Definition of Done when its lifetime spend is within its "
                        "budget (status ok or warning). Pass rate = passed / stories with a budget. An approved "
                        "override does not count as a pass. A story at 300% or more of its budget is a failed "
                        "sprint goal.")
CACHING_BASIS = ("Saved = what the same input tokens would have cost at the full input rate, minus what they "
                 "cost as cache reads and writes, at each model's base (lowest-tier) rates from genai-prices or "
                 "the price file.")
ROUTING_BASIS = ("Estimate: the tokens of each premium model priced at the base rates of a cheaper model of the "
                 "same provider (genai-prices), with the same cache reads and writes. Quality is not compared: "
                 "this is what routing could save, not what it would have.")


def usd(value: int | Decimal | None, *, nano: bool = True) -> str | None:
    """Nano-dollars (or dollars with nano=False) as a USD string rounded to the micro-dollar.

    Data, not display: the report JSON keeps micro-dollars; render.money formats them for people."""
    if value is None:
        return None
    dollars = Decimal(value) / NANO if nano else Decimal(value)
    text = f"{dollars.quantize(Decimal('0.000001'), rounding=ROUND_HALF_UP):f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents:0<2}"


def spent_usd(totals: fig.Totals) -> str | None:
    return None if totals.all_unpriced else usd(totals.nano_usd)


def pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}"


def ratio(value: Decimal | None) -> str | None:
    if value is None:
        return None
    shown = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if shown == 1 and value != 1:  # never round across the budget line: 1.0004 is over, 0.9996 is not
        shown = Decimal("1.01") if value > 1 else Decimal("0.99")
    return f"{shown:f}"


def totals_json(totals: fig.Totals, **extra) -> dict:
    return {**extra, "events": totals.events, "unpriced_events": totals.unpriced_events, "tokens": totals.tokens,
            "usd": spent_usd(totals)}


def headline_json(head: fig.Headline, period: Period) -> dict:
    card = head.card
    return {"label": head.label, "start": _iso(period.start), "end": _iso(period.end),
            **totals_json(head.spend), "stories": head.stories, "resolved": head.resolved,
            "budgeted": card.budgeted, "passed": card.passed, "pass_rate_pct": pct(card.pass_rate),
            "over": card.over, "overridden": card.overridden, "unmeasured": card.unmeasured,
            "failed_goals": len(card.failed_goals),
            "cache_share_pct": pct(head.cache_share),
            "cost_per_resolved_story_usd": usd(head.per_resolved_nano)}


def card_json(lines: list[fig.ScoreLine], card: fig.Scorecard) -> dict:
    stories = []
    for line in lines:
        f, verdict = line.facts, line.verdict
        stories.append({
            "key": f.key, "summary": f.summary, "points": f.points, "resolved": f.resolved,
            "status": verdict.status.value,
            "budget": {"tokens": f.budget_tokens, "usd": usd(f.budget_nano_usd)},
            "spent": {"tokens": f.spent.tokens, "usd": spent_usd(f.spent), "events": f.spent.events,
                      "unpriced_events": f.spent.unpriced_events},
            "in_period": {"tokens": f.in_period.tokens, "usd": spent_usd(f.in_period)},
            "percent": {"tokens": _pct1(verdict.tokens_pct),
                        "usd": None if f.spent.all_unpriced else _pct1(verdict.usd_pct)},
            "ratio": ratio(line.ratio), "failed_goal": line.failed_goal,
            "pr_check": {"conclusion": f.check.conclusion, "override_by": f.check.override_by,
                         "override_at": f.check.override_at},
        })
    return {"definition": SCORECARD_DEFINITION, "budgeted": card.budgeted, "passed": card.passed,
            "over": card.over, "overridden": card.overridden, "unmeasured": card.unmeasured,
            "pass_rate_pct": pct(card.pass_rate),
            "failed_goals": card.failed_goals, "stories": stories}


def accuracy_json(acc: fig.Accuracy) -> dict:
    return {"stories": [{"key": key, "ratio": ratio(value)} for key, value in acc.ratios],
            "median": ratio(acc.median), "p25": ratio(acc.p25), "p75": ratio(acc.p75),
            "min": ratio(acc.low), "max": ratio(acc.high), "no_budget": acc.no_budget,
            "unmeasured": acc.unmeasured}


def overruns_json(lines: list[fig.ScoreLine], details: dict, runs: list, errors: fig.Totals) -> dict:
    stories = []
    for line in lines:
        item = details.get(line.facts.key)
        if item is None:
            continue
        growth = fig.context_growth(item.days)
        stories.append({
            "key": item.key, "status": line.verdict.status.value, "ratio": ratio(line.ratio),
            "by_agent": [totals_json(s.totals, name=s.name) for s in fig.breakdown(item.by_agent.items())],
            "by_model": [totals_json(s.totals, name=s.name) for s in fig.breakdown(item.by_model.items())],
            "top_runs": [{"run_id": run_id, "tokens": tokens, "usd": usd(nano)} for nano, tokens, run_id in item.runs],
            "errors": totals_json(item.errors),
            "input_per_call": [{"day": day, "calls": calls, "avg_input_tokens": round(tokens / calls)}
                               for day, calls, tokens in item.days],
            "context_growth": ratio(growth),
        })
    return {"stories": stories,
            "top_runs": [totals_json(run.totals, run_id=run.run_id, story=run.story_key, agent=run.agent,
                                     errors=run.errors) for run in runs],
            "errors": totals_json(errors)}


def caching_json(c: Caching) -> dict:
    return {"input_tokens": c.input_tokens, "cache_read_tokens": c.cache_read_tokens,
            "cache_write_tokens": c.cache_write_tokens, "share_pct": pct(c.share),
            "saved_usd": usd(c.saved, nano=False), "basis": CACHING_BASIS,
            "by_model": [{"model": model, "input_tokens": inp, "cache_read_tokens": read,
                          "share_pct": pct(Decimal(read) / inp if inp else None),
                          "saved_usd": usd(saved, nano=False)} for model, inp, read, saved in c.by_model],
            "unpriced_models": c.unpriced_models}


def routing_json(r: Routing) -> dict:
    return {"estimate": True, "basis": ROUTING_BASIS, "premium_usd": usd(r.actual_usd, nano=False),
            "alternative_usd": usd(r.alternative_usd, nano=False),
            "difference_usd": usd(r.actual_usd - r.alternative_usd, nano=False),
            "unpriced_events": r.unpriced_events,
            "models": [{"model": x.model, "provider": x.provider, "alternative": x.alternative,
                        "events": x.events, "tokens": x.tokens, "actual_usd": usd(x.actual_usd, nano=False),
                        "alternative_usd": usd(x.alternative_usd, nano=False),
                        "difference_usd": usd(x.difference_usd, nano=False)} for x in r.routes]}


def economics_json(e: fig.UnitEconomics) -> dict:
    return {"resolved_stories": e.resolved, "cost_per_resolved_story_usd": usd(e.per_resolved_nano),
            "fully_loaded_cost_per_resolved_story_usd": usd(e.fully_loaded_nano),
            "story_points": f"{e.points.normalize():f}", "cost_per_story_point_usd": usd(e.per_point_nano),
            "unpriced_events": e.resolved_spend.unpriced_events}


def showback_json(groups: dict[str, list[fig.Share]]) -> dict:
    return {name: [totals_json(s.totals, name=s.name) for s in shares] for name, shares in groups.items()}


def suggestions_json(s: fig.Suggestions) -> dict:
    return {"method": s.method, "too_few": s.too_few,
            "groups": [{"group": g.group, "stories": g.stories, "median_tokens": g.median_tokens,
                        "suggested_tokens": g.suggested_tokens, "median_usd": usd(g.median_nano_usd),
                        "suggested_usd": usd(g.suggested_nano_usd)} for g in s.groups]}


def _pct1(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"  # judge() already rounds to one decimal


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")
