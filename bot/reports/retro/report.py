"""Builds the retro report: gathers the queries, computes the figures, and shapes the stable JSON document."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.ledger.budgets import Status
from bot.ledger.days import team_zone
from bot.ledger.keys import project_of
from bot.ledger.pricing import Pricer
from bot.reports.retro import external, queries
from bot.reports.retro import figures as fig
from bot.reports.retro.period import Period, previous_periods
from bot.reports.retro.savings import ECONOMY_MODELS, ModelTokens, caching, routing
from bot.reports.retro.shape import (
    SCHEMA,
    accuracy_json,
    caching_json,
    card_json,
    economics_json,
    headline_json,
    overruns_json,
    routing_json,
    showback_json,
    suggestions_json,
)

SHOWBACK = ("team", "project", "cost_center", "agent", "model")


def story_facts(session: Session, period: Period, project: str | None,
                spend: dict[str | None, fig.Totals]) -> list[fig.StoryFacts]:
    """Every story of the period with its lifetime spend (judged) and its spend inside the period."""
    rows = queries.stories(session, period, {key for key in spend if key}, project)
    checks = external.pr_checks(session, [story.key for story in rows])
    return [fig.StoryFacts(
        key=story.key, project=story.project, summary=story.summary, points=story.story_points,
        resolved=story.resolved_at is not None and story.resolved_at < period.end,
        budget_tokens=story.budget_tokens, budget_nano_usd=story.budget_nano_usd,
        spent=fig.Totals(story.events, story.unpriced_events, story.spent_tokens, story.spent_nano_usd),
        in_period=spend.get(story.key, fig.Totals()), check=checks.get(story.key, external.UNKNOWN),
        approved=bool(story.overrun_approved))
        for story in rows]


def build(session: Session, period: Period, *, pricer: Pricer, warn_threshold: Decimal,
          project: str | None = None, economy: dict[str, str] | None = None,
          now: datetime | None = None, zone: str | ZoneInfo | None = None) -> dict:
    """The whole retro as a JSON-ready dict (shape documented in docs/retro.md). Spend is counted by the
    team's days (`zone`, default the one the session carries: BUDGETBOT_TIMEZONE), as the rollups hold it."""
    reader = queries.Reader(session, team_zone(zone, session))
    window = period.window(reader.zone)
    cube = queries.cube(reader, window, project)
    spend: dict[str | None, fig.Totals] = defaultdict(fig.Totals)
    for row in cube:
        spend[row.story_key] += row.totals
    period_spend = fig.total(spend.values())
    facts = story_facts(session, period, project, spend)
    lines = fig.score(facts, warn_threshold)
    current = fig.headline(period.label, lines, period_spend)

    over = [line.facts.key for line in lines if line.verdict.status in (Status.OVER, Status.OVERRIDDEN)]
    details = queries.overruns(reader, over)
    errors = fig.total(row.errors for row in cube)

    price_day = (period.end - timedelta(microseconds=1)).date()
    rates_of = lambda model, provider: pricer.rates(model, provider, price_day)  # noqa: E731
    models = _model_tokens(cube)

    trend, history = _trend(reader, period, project, warn_threshold)
    samples = {f.key: f for f in history}
    samples.update({f.key: f for f in facts})
    alerts = external.alerts(session, period)

    return {
        "schema": SCHEMA,
        "generated_at": _iso(now or utcnow()),
        "period": {"label": period.label, "sprint": period.sprint, "start": _iso(period.start),
                   "end": _iso(period.end), "project": project},
        "headline": headline_json(current, period),
        "scorecard": card_json(lines, fig.scorecard(lines)),
        "estimate_accuracy": accuracy_json(fig.accuracy(lines)),
        "overruns": overruns_json(lines, details, queries.top_runs(session, window, project), errors),
        "caching": caching_json(caching(models, rates_of)),
        "routing": routing_json(routing(models, rates_of, {**ECONOMY_MODELS, **(economy or {})})),
        "unit_economics": economics_json(fig.unit_economics(lines, period_spend)),
        "showback": showback_json({name: fig.breakdown(_dimension(cube, name)) for name in SHOWBACK}),
        "anomalies": {"available": True, "alerts": [vars(alert) for alert in alerts]},
        "trend": [*trend, headline_json(current, period)],
        "suggested_budgets": suggestions_json(fig.suggest_budgets(samples.values())),
    }


def _trend(reader: queries.Reader, period: Period, project: str | None,
           warn_threshold: Decimal) -> tuple[list[dict], list[fig.StoryFacts]]:
    """Headline figures of up to 6 earlier periods (oldest first), and their stories for suggestions."""
    shown: list[dict] = []
    history: list[fig.StoryFacts] = []
    for earlier in previous_periods(reader.session, period):
        spend = queries.spend_by_story(reader, earlier.window(reader.zone), project)
        if not spend and not shown and earlier.sprint is None:
            continue  # a date window before any spend: nothing to compare with
        facts = story_facts(reader.session, earlier, project, spend)
        lines = fig.score(facts, warn_threshold)
        shown.append(headline_json(fig.headline(earlier.label, lines, fig.total(spend.values())), earlier))
        history.extend(facts)
    return shown, history


def _model_tokens(cube: list[queries.CubeRow]) -> list[ModelTokens]:
    sums: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0] * 7)
    for row in cube:
        t = row.totals
        values = (t.events, t.unpriced_events, t.input_tokens, row.output_tokens, t.cache_read_tokens,
                  row.cache_write_tokens, t.nano_usd)
        entry = sums[(row.model, row.provider)]
        for index, value in enumerate(values):
            entry[index] += value
    return [ModelTokens(model, provider, *values) for (model, provider), values in sums.items()]


def _dimension(cube: list[queries.CubeRow], name: str):
    for row in cube:
        if name == "project":
            value = project_of(row.story_key) if row.story_key else "(no story)"
        else:
            value = getattr(row, name)
        yield value, row.totals


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
