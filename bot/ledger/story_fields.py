"""The fields Jira would set on a story (summary, sprint, points, assignee, resolved), set by hand without Jira."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.ledger.keys import project_of
from bot.ledger.sprints import find
from bot.ledger.tables import Story

FIELDS = ("summary", "sprint", "points", "assignee", "resolved")
MAX_TEXT = {"summary": 2000, "assignee": 200}


class FieldError(ValueError):
    """One field's value cannot be stored; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse(values: dict) -> dict:
    """Check `values` (a subset of FIELDS; None clears a field) and return them ready to store."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise FieldError(unknown[0], f"unknown field (the fields are {', '.join(FIELDS)})")
    clean: dict = {}
    for name in ("summary", "assignee"):
        if name in values:
            value = values[name]
            if value is not None and not isinstance(value, str):
                raise FieldError(name, "must be a string or null")
            value = (value or "").strip() or None
            if value is not None and len(value) > MAX_TEXT[name]:
                raise FieldError(name, f"longer than {MAX_TEXT[name]} characters")
            clean[name] = value
    if "sprint" in values:
        value = values["sprint"]
        if value is not None and not isinstance(value, str):
            raise FieldError("sprint", "must be a sprint name or null")
        clean["sprint"] = (value or "").strip() or None
    if "points" in values:
        value = values["points"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
                                  or value > 1000):
            raise FieldError("points", "must be a number from 0 to 1000, or null")
        clean["points"] = None if value is None else float(value)
    if "resolved" in values:
        if not isinstance(values["resolved"], bool):
            raise FieldError("resolved", "must be true or false")
        clean["resolved"] = values["resolved"]
    return clean


def update(session: Session, key: str, values: dict, now: datetime | None = None) -> Story:
    """Set the given fields of story `key` (creating it); a sprint must exist (its stored name is used)."""
    clean = parse(values)
    if clean.get("sprint"):
        sprint = find(session, clean["sprint"])
        if sprint is None:
            raise FieldError("sprint", f"no sprint named {clean['sprint']!r}; add it with "
                                       "`budgetbot sprint add NAME --start DATE --end DATE`")
        clean["sprint"] = sprint.name
    story = session.get(Story, key, with_for_update=True)
    if story is None:
        story = Story(key=key, project=project_of(key), spent_tokens=0, spent_nano_usd=0, events=0,
                      unpriced_events=0)
        session.add(story)
    for name, column in (("summary", "summary"), ("assignee", "assignee"), ("sprint", "sprint"),
                         ("points", "story_points")):
        if name in clean:
            setattr(story, column, clean[name])
    if "resolved" in clean:
        if not clean["resolved"]:
            story.resolved_at = None
        elif story.resolved_at is None:
            story.resolved_at = now or utcnow()
    session.flush()
    return story


def describe(story: Story) -> dict:
    """The fields as the API returns them next to the story's budget and spend."""
    return {"sprint": story.sprint, "points": story.story_points, "assignee": story.assignee,
            "resolved_at": None if story.resolved_at is None else story.resolved_at.isoformat().replace("+00:00", "Z")}
