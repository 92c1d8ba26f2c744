"""Jira issue data onto the core Story row: budget, summary, assignee, status, sprint, story points, resolution."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.guardrails.figures import set_story_labels
from bot.integrations.jira.fields import FieldMap
from bot.integrations.jira.payloads import IssueFields
from bot.integrations.jira.tables import JiraIssue
from bot.ledger.budgets import Budget, BudgetError, parse_budget, parse_tokens, usd_to_nano
from bot.ledger.events import StoryChange
from bot.ledger.ingest import set_budget
from bot.ledger.keys import project_of
from bot.ledger.tables import Sprint, Story

log = logging.getLogger(__name__)
# Data Center renders sprints as "com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=1,state=ACTIVE,...]".
_DC_SPRINT = re.compile(r"(\w+)=([^,\]]*)")


def parse_field_budget(value: object) -> Budget | None:
    """A Token Budget field value (number or text) -> Budget; empty -> None; nonsense raises BudgetError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Budget(tokens=parse_tokens(value))
    text = str(value).strip()
    try:
        return parse_budget(text)
    except BudgetError:
        try:  # a number field's changelog string: "12", "200000.0", "1.5E7"
            number = Decimal(text)
        except InvalidOperation:
            raise BudgetError(f"{text!r} is not a budget (try 200000, '200k', '$5' or '200k / $5')") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise BudgetError(f"{text!r}: a token budget must be a whole number of tokens") from None
        return Budget(tokens=parse_tokens(int(number)))


def issue_state(session: Session, key: str) -> JiraIssue:
    state = session.get(JiraIssue, key)
    if state is None:
        state = JiraIssue(key=key)
        session.add(state)
    return state


def _story(session: Session, key: str) -> Story:
    story = session.get(Story, key)
    if story is None:
        story = Story(key=key, project=project_of(key), spent_tokens=0, spent_nano_usd=0, events=0,
                      unpriced_events=0, deleted=False)
        session.add(story)
    return story


def apply_budget(session: Session, settings, key: str, raw: object, *, from_search: bool = False
                 ) -> StoryChange | None:
    """Mirror the Jira budget into the story. Garbage is logged and ignored: the story keeps its budget.

    `from_search` (reconcile): an empty field clears only a budget that came from Jira, not one set by API."""
    try:
        budget = parse_field_budget(raw)
    except BudgetError as exc:
        log.warning("%s: ignoring %s value %r (%s); the story keeps its budget", key,
                    settings.jira_budget_field, raw, exc)
        return None
    tokens = budget.tokens if budget else None
    nano = usd_to_nano(budget.usd) if budget and budget.usd is not None else None
    state = issue_state(session, key)
    story = session.get(Story, key)
    current = (story.budget_tokens, story.budget_nano_usd) if story else (None, None)
    mirrored = (state.mirrored_budget_tokens, state.mirrored_budget_nano_usd)
    state.mirrored_budget_tokens, state.mirrored_budget_nano_usd = tokens, nano
    if current == (tokens, nano):
        return None
    if from_search and budget is None and current != mirrored:
        return None  # set through the API/CLI, never in Jira: an empty Jira field is not a removal
    return set_budget(session, key, tokens, nano, settings.warn_threshold, clear_missing=True)


def apply_fields(session: Session, fmap: FieldMap | None, key: str, issue_id: str | None, fields: dict,
                 typed: IssueFields | None = None) -> Story:
    """Keep summary, assignee, status, resolution, sprint and story points for the digest and retro, and the
    labels for the guardrails (the policy's [labels.NAME] overrides; Jira's list replaces one set by the CLI).

    `typed` is the validated view of `fields` (webhooks); without it (search results) it is made here."""
    if typed is None:
        try:
            typed = IssueFields.model_validate(fields)
        except ValidationError as exc:
            log.warning("%s: issue fields not as Jira documents them, details kept: %s", key, exc)
            typed = IssueFields()
    present = typed.model_fields_set  # a field sent as null clears; a field not sent is kept
    story = _story(session, key)
    state = issue_state(session, key)
    story.deleted = False
    if issue_id:
        state.issue_id = str(issue_id)
    if "summary" in present:
        story.summary = typed.summary
    if "assignee" in present:
        assignee = typed.assignee
        story.assignee = assignee.displayName if assignee else None
        state.assignee_id = (assignee.accountId or assignee.name) if assignee else None
    if "status" in present:
        status = typed.status
        story.jira_status = status.name if status else None
        category = status.statusCategory.key if status and status.statusCategory else None
        done = category == "done" if category else bool(typed.resolutiondate)
        if not done:
            story.resolved_at = None
        elif story.resolved_at is None:
            story.resolved_at = parse_time(typed.resolutiondate) or utcnow()
    if "labels" in present:
        set_story_labels(session, key, list(typed.labels or []))
    if fmap and fmap.story_points and fmap.story_points.id in fields:
        points = fields[fmap.story_points.id]
        story.story_points = float(points) if isinstance(points, (int, float)) and not isinstance(points, bool) \
            else None
    if fmap and fmap.sprint and fmap.sprint.id in fields:
        values = fields[fmap.sprint.id]
        # A list of sprints in every Jira version; anything else is not a sprint value and records nothing.
        sprints = [s for s in (parse_sprint(v) for v in values if isinstance(values, list)) if s] \
            if isinstance(values, list) else []
        for sprint in sprints:
            upsert_sprint(session, sprint)
        current = [s for s in sprints if str(s.get("state") or "").lower() == "active"] or sprints[-1:]
        story.sprint = str(current[0]["name"])[:200] if current else None
    return story


def parse_sprint(value: object) -> dict | None:
    """A sprint as Cloud (object) or Data Center (string) gives it -> {id, name, state, startDate, ...}."""
    if isinstance(value, dict):
        return value if value.get("name") else None
    if isinstance(value, str) and "[" in value:
        parts = dict(_DC_SPRINT.findall(value[value.index("["):]))
        sprint = {k: (None if v in ("", "<null>") else v) for k, v in parts.items()}
        if sprint.get("name"):
            sprint["boardId"] = sprint.pop("rapidViewId", None)
            return sprint
    return None


def upsert_sprint(session: Session, data: dict, board_id: int | None = None) -> Sprint | None:
    """Insert or update the core Sprint row of a Jira sprint (matched by Jira id, then by name)."""
    try:
        sprint_id = int(data["id"])
    except (KeyError, TypeError, ValueError):
        return None
    name = str(data["name"])[:200]
    row = session.scalar(select(Sprint).where(Sprint.jira_sprint_id == sprint_id))
    named = session.scalar(select(Sprint).where(Sprint.name == name))
    if row is None:
        if named is not None and named.jira_sprint_id not in (None, sprint_id):
            log.warning("two Jira sprints are named %r (ids %s and %s); keeping the first", name,
                        named.jira_sprint_id, sprint_id)
            return None
        row = named or Sprint(name=name)
        session.add(row)
    elif named is not None and named is not row:
        return row  # renamed onto a name another sprint holds: keep the old name
    row.name, row.jira_sprint_id = name, sprint_id
    row.state = str(data.get("state") or row.state or "").lower()[:20] or None
    row.start_at = parse_time(data.get("startDate")) or row.start_at
    row.end_at = parse_time(data.get("endDate")) or row.end_at
    board = board_id or data.get("originBoardId") or data.get("boardId")
    row.board_id = int(board) if board not in (None, "") else row.board_id
    session.flush()
    return row


def parse_time(value: object) -> datetime | None:
    """Jira times: `2019-02-15T19:15:40.470-0800`, `2024-01-01T10:00:00.000Z`."""
    if not isinstance(value, str) or not value:
        return None
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", value.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
