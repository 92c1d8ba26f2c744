"""A story's Jira labels, kept for the policy's per-label overrides (`[labels.NAME]`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.guardrails.tables import StoryLabels
from bot.upsert import dialect_insert


def set_story_labels(session: Session, key: str, labels: list[str] | None) -> list[str]:
    """Replace the labels of story `key` (as Jira's `fields.labels` lists them); returns them sorted."""
    cleaned = sorted({str(label).strip() for label in labels or [] if str(label).strip()})
    stmt = dialect_insert(session, StoryLabels.__table__).values(story_key=key, labels=cleaned)
    session.execute(stmt.on_conflict_do_update(index_elements=["story_key"], set_={"labels": cleaned}))
    return cleaned
