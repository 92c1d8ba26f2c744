"""Blocked preflight calls, when this installation records them (the guardrails' BlockedCall table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bot.guardrails import tables as guardrail_tables


def blocked_calls(session: Session, story_keys: list[str] | Select | None = None, since: datetime | None = None,
                  limit: int = 20) -> list[dict] | None:
    """Newest first; None when blocked calls are not recorded here (the page says so instead of a table).
    `story_keys`: those stories' calls only (a list, or a select of keys); None: every story's."""
    table = getattr(guardrail_tables, "BlockedCall", None)
    if table is None:
        return None
    query = select(table).order_by(table.at.desc()).limit(limit)
    if story_keys is not None:
        query = query.where(table.story_key.in_(story_keys))
    if since is not None:
        query = query.where(table.at >= since)
    return [{"at": b.at, "story": b.story_key, "agent": b.agent, "run_id": b.run_id, "model": b.model,
             "reasons": ", ".join(str(r.get("message") or r.get("code")) for r in (b.reasons or [])
                                  if isinstance(r, dict)) or (b.codes or "").replace(",", ", ")}
            for b in session.scalars(query)]
