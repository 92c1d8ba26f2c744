"""Read models of a story: totals, verdict and breakdowns, as the API, CLI and integrations show them."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.ledger.budgets import nano_to_usd
from bot.ledger.ingest import judge_story
from bot.ledger.tables import Story, UsageEvent


def _money(nano: int | None) -> str | None:
    value = nano_to_usd(nano)
    return None if value is None else f"{value:f}"


def breakdown(session: Session, key: str, column, limit: int = 10) -> list[dict]:
    """Spend of one story grouped by `column` (model, agent, run_id), biggest first."""
    tokens = func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens)
    rows = session.execute(
        select(column, tokens, func.sum(UsageEvent.cost_nano_usd), func.count())
        .where(UsageEvent.story_key == key).group_by(column)
        .order_by(func.sum(UsageEvent.cost_nano_usd).desc(), tokens.desc()).limit(limit))
    return [{"name": name, "tokens": int(t), "usd": _money(int(n)), "events": int(c)} for name, t, n, c in rows]


def story_summary(story: Story, warn_threshold: Decimal) -> dict:
    verdict = judge_story(story, warn_threshold)
    return {
        "key": story.key,
        "project": story.project,
        "summary": story.summary,
        "status": verdict.status.value,
        "budget": {"tokens": story.budget_tokens, "usd": _money(story.budget_nano_usd)},
        "spent": {"tokens": story.spent_tokens, "usd": _money(story.spent_nano_usd)},
        "percent": {"tokens": _pct(verdict.tokens_pct), "usd": _pct(verdict.usd_pct)},
        "events": story.events,
        "unpriced_events": story.unpriced_events,
        "first_event_at": _iso(story.first_event_at),
        "last_event_at": _iso(story.last_event_at),
    }


def story_detail(session: Session, story: Story, warn_threshold: Decimal) -> dict:
    detail = story_summary(story, warn_threshold)
    detail["by_model"] = breakdown(session, story.key, UsageEvent.model)
    detail["by_agent"] = breakdown(session, story.key, UsageEvent.agent)
    return detail


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def _iso(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
