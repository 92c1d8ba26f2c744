"""Read models of a story: totals, verdict and breakdowns, as the API, CLI and integrations show them."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.ledger.budgets import nano_to_usd
from bot.ledger.days import counted
from bot.ledger.ingest import judge_story
from bot.ledger.tables import StoryApproval, StoryView, UsageEvent

# Reports group models by family (`gpt-4o` for `GPT-4o` and `gpt-4o-2024-11-20`); the event keeps its exact id.
MODEL_FAMILY = func.coalesce(UsageEvent.model_family, func.lower(UsageEvent.model))


def _money(nano: int | None) -> str | None:
    # Data, not display: the exact decimal string read models hand to the API and reports (formatted later).
    value = nano_to_usd(nano)
    return None if value is None else f"{value:f}"


def breakdown(session: Session, key: str, column, limit: int = 10) -> list[dict]:
    """Spend of one story grouped by `column` (model -> its family, agent, run_id), biggest first.
    `unpriced` counts the group's events without a price: their dollars are not in `usd`."""
    label = column
    if column is UsageEvent.model:
        # One row per family, named by its shortest id as sent (`gpt-4o` for gpt-4o, GPT-4o, gpt-4o-2024-11-20).
        column, label = MODEL_FAMILY, func.min(func.lower(UsageEvent.model))
    tokens = func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens)
    unpriced = func.sum(case((UsageEvent.priced.is_(False), 1), else_=0))
    rows = session.execute(
        select(label, tokens, func.sum(UsageEvent.cost_nano_usd), func.count(), unpriced)
        .where(UsageEvent.story_key == key, counted()).group_by(column)
        .order_by(func.sum(UsageEvent.cost_nano_usd).desc(), tokens.desc()).limit(limit))
    # `unpriced_events` only where there are some: most groups are fully priced.
    return [{"name": name, "tokens": int(t), "usd": _money(int(n)), "events": int(c),
             **({"unpriced_events": int(u)} if u else {})} for name, t, n, c, u in rows]


def unpriced_models(session: Session, key: str) -> list[str]:
    """The exact model ids of KEY's events that have no price: what to add to BUDGETBOT_PRICES_FILE."""
    return list(session.scalars(select(UsageEvent.model).where(
        UsageEvent.story_key == key, UsageEvent.priced.is_(False), counted()).distinct().order_by(UsageEvent.model)))


def approval_of(session: Session, key: str) -> dict | None:
    """The standing approval of KEY's overrun (who, when, why, how), or None."""
    row = session.scalar(select(StoryApproval).where(StoryApproval.story_key == key,
                                                     StoryApproval.revoked_at.is_(None))
                         .order_by(StoryApproval.approved_at.desc(), StoryApproval.id.desc()).limit(1))
    if row is None:
        return None
    return {"by": row.approved_by, "at": _iso(row.approved_at), "reason": row.reason, "source": row.source}


def story_summary(story: StoryView, warn_threshold: Decimal) -> dict:
    verdict = judge_story(story, warn_threshold)
    return {
        "key": story.key,
        "project": story.project,
        "summary": story.summary,
        "status": verdict.status.value,
        "budget": {"tokens": story.budget_tokens, "usd": _money(story.budget_nano_usd)},
        # With unpriced events the dollars are a lower bound: `usd` is the priced part, plus `unpriced_events`.
        "spent": {"tokens": story.spent_tokens, "usd": _money(story.spent_nano_usd)},
        "percent": {"tokens": _pct(verdict.tokens_pct), "usd": _pct(verdict.usd_pct)},
        "events": story.events,
        "unpriced_events": story.unpriced_events,
        "overrun_approved": bool(story.overrun_approved),
        "first_event_at": _iso(story.first_event_at),
        "last_event_at": _iso(story.last_event_at),
    }


def story_detail(session: Session, story: StoryView, warn_threshold: Decimal) -> dict:
    detail = story_summary(story, warn_threshold)
    detail["by_model"] = breakdown(session, story.key, UsageEvent.model)
    detail["by_agent"] = breakdown(session, story.key, UsageEvent.agent)
    detail["unpriced_models"] = unpriced_models(session, story.key) if story.unpriced_events else []
    detail["approval"] = approval_of(session, story.key) if story.overrun_approved else None
    return detail


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def _iso(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
