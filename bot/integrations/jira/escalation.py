"""Spend out and escalation: ledger and budget changes become coalesced Token Spend writes, labels and comments."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from flask import current_app, has_app_context
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from bot.integrations.jira.tables import JiraIssue
from bot.ledger.budgets import Status
from bot.ledger.events import StoryChange
from bot.ledger.ingest import judge_story
from bot.ledger.keys import project_of
from bot.ledger.read import approval_of, breakdown
from bot.ledger.tables import StoryView, UsageEvent
from bot.outbox import Outgoing, enqueue_many
from bot.outbox.tables import OutboxRow
from bot.reports.format import small_dollars, small_money
from bot.sql_sets import JsonSet, as_json
from bot.web.dashboard_keys import signed_story_url

log = logging.getLogger(__name__)
MARKER = "over-budget"


def _settings():
    if not has_app_context():
        log.error("Jira listener ran without an app context; reconcile will catch up")
        return None
    settings = current_app.config["SETTINGS"]
    # No Jira URL: Jira is not used at all (not even in dry-run), so nothing is queued for it.
    return settings if settings.jira_url else None


def _in_scope(settings, story: StoryView) -> bool:
    return not story.deleted and (not settings.jira_projects or project_of(story.key) in settings.jira_projects)


def on_spend_changed(session: Session, changes: list[StoryChange]) -> None:
    """Token Spend rows for the stories whose totals moved, and the escalation of those that crossed their
    budget: a constant number of statements per batch, however many stories it touched."""
    settings = _settings()
    if settings is None:
        return
    scoped = [change for change in changes if _in_scope(settings, change.story)]
    if not scoped:
        return
    stories = [change.story for change in scoped]
    pending = _pending_spend(session, [story.key for story in stories])
    flipped = [change for change in scoped if change.crossed_over or change.came_back]
    issues = _issues(session, {story.key for story in stories if story.key not in pending}
                     | {change.story.key for change in flipped if change.crossed_over})
    spend, _ = _spend_rows(settings, stories, pending, issues, delay=None)
    enqueue_many(session, [*spend, *_status_rows(session, settings, flipped, issues)])


def on_budget_changed(session: Session, changes: list[StoryChange]) -> None:
    settings = _settings()
    if settings is None:
        return
    flipped = [change for change in changes if _in_scope(settings, change.story)
               and (change.crossed_over or change.came_back)]
    if flipped:
        issues = _issues(session, {change.story.key for change in flipped if change.crossed_over})
        enqueue_many(session, _status_rows(session, settings, flipped, issues))


def enqueue_spend(session: Session, settings, story: StoryView, delay: timedelta | None = None) -> bool:
    """Queue a Token Spend write, coalesced per story and held back `jira_spend_interval` seconds so a burst
    of usage events is one PUT (`delay` overrides the interval). True when one is queued or already pending;
    False when Jira already shows these figures."""
    pending = _pending_spend(session, [story.key])
    rows, queued = _spend_rows(settings, [story], pending, _issues(session, {story.key} - pending), delay)
    enqueue_many(session, rows)
    return bool(queued)


def _spend_key(key: str) -> str:
    return f"jira-spend:{key}"


def _pending_spend(session: Session, keys: list[str]) -> set[str]:
    """The stories among `keys` whose Token Spend write is already pending. The row carries only the key (the
    sender writes the spend as it is then), so for those an ingest writes nothing."""
    if not keys:
        return set()
    wanted = JsonSet.of(session, "keys")
    query = wanted.restrict(select(OutboxRow.coalesce_key).where(OutboxRow.state == "pending"), OutboxRow.coalesce_key)
    found = session.scalars(query, {"keys": as_json(_spend_key(key) for key in keys)})
    prefix = len(_spend_key(""))
    return {coalesce_key[prefix:] for coalesce_key in found if coalesce_key is not None}


def _issues(session: Session, keys: set[str]) -> dict[str, Row]:
    """What budgetbot knows of these stories' Jira issues (the spend written there, the assignee), by key."""
    if not keys:
        return {}
    wanted = JsonSet.of(session, "keys")
    query = wanted.restrict(select(JiraIssue.key, JiraIssue.assignee_id, JiraIssue.spend_written_tokens,
                                   JiraIssue.spend_written_nano_usd), JiraIssue.key)
    return {row.key: row for row in session.execute(query, {"keys": as_json(sorted(keys))})}


def _spend_rows(settings, stories: list[StoryView], pending: set[str], issues: dict[str, Row],
                delay: timedelta | None) -> tuple[list[Outgoing], set[str]]:
    """The Token Spend rows to add, and the keys whose spend is queued (by these rows or already)."""
    delay = timedelta(seconds=settings.jira_spend_interval) if delay is None else delay
    rows, queued = [], set()
    for story in stories:
        if story.key not in pending:
            nano = story.spent_nano_usd if settings.jira_spend_usd_field else None
            issue = issues.get(story.key)
            if issue is not None and (issue.spend_written_tokens, issue.spend_written_nano_usd) == (
                    story.spent_tokens, nano):
                continue  # Jira already shows these figures
            rows.append(Outgoing("jira.spend", {"key": story.key}, _spend_key(story.key), delay))
        queued.add(story.key)
    return rows, queued


def _status_rows(session: Session, settings, changes: list[StoryChange], issues: dict[str, Row]) -> list[Outgoing]:
    """Crossing 100% adds the label, the comment (edited on later crossings) and the optional transition;
    coming back under removes the label and turns the comment into a note."""
    rows = []
    label = settings.jira_over_budget_label
    for change in changes:
        key = change.story.key
        if change.crossed_over:
            rows.append(Outgoing("jira.labels", {"key": key, "add": [label]}, f"jira-labels:{key}"))
            if settings.jira_over_budget_transition:
                rows.append(Outgoing("jira.transition", {"key": key, "name": settings.jira_over_budget_transition},
                                     f"jira-transition:{key}"))
        else:
            rows.append(Outgoing("jira.labels", {"key": key, "remove": [label]}, f"jira-labels:{key}"))
        issue = issues.get(key)
        doc = over_budget_doc(session, settings, change.story, over=change.crossed_over,
                              assignee_id=issue.assignee_id if issue is not None else None)
        rows.append(Outgoing("jira.comment", {"key": key, "marker": MARKER, "doc": doc},
                             f"jira-comment:{key}:{MARKER}"))
    return rows


def over_budget_doc(session: Session, settings, story: StoryView, *, over: bool,
                    assignee_id: str | None = None) -> list[dict]:
    """The escalation comment as `jira.comment` blocks: who (`assignee_id`: the Jira issue's, for a mention),
    budget vs spend, where it went, a link."""
    verdict = judge_story(story, settings.warn_threshold)
    approved = not over and verdict.status == Status.OVERRIDDEN
    heading = "Over token budget" if over else "Overrun approved" if approved else "Back within token budget"
    doc: list[dict] = [{"type": "heading", "text": heading}]
    if over:
        for account in (assignee_id, settings.jira_escalation_user):
            if account:
                doc.append({"type": "mention", "account_id": account})
        doc.append({"type": "paragraph", "text": f"{story.key} has spent more than its budget. Agents should stop "
                    "here until a person raises the budget or splits the story."})
    elif approved:
        approval = approval_of(session, story.key) or {}
        why = f": {approval['reason']}" if approval.get("reason") else ""
        doc.append({"type": "paragraph", "text": f"{approval.get('by', 'Someone')} approved the overrun of "
                    f"{story.key} ({approval.get('source', 'budgetbot')}){why}. It stays over budget (status "
                    f"overridden); the {settings.jira_over_budget_label} label was removed."})
    else:
        doc.append({"type": "paragraph", "text": f"Note: {story.key} is back within its budget (the budget was "
                    f"raised or spend corrected); the {settings.jira_over_budget_label} label was removed."})
    rows = []
    if story.budget_tokens is not None:
        rows.append(["Tokens", f"{story.budget_tokens:,}", f"{story.spent_tokens:,}", _pct(verdict.tokens_pct)])
    if story.budget_nano_usd is not None:
        unpriced = f" + {story.unpriced_events:,} unpriced" if story.unpriced_events else ""
        rows.append(["USD", usd(story.budget_nano_usd), usd(story.spent_nano_usd) + unpriced,
                     _pct(verdict.usd_pct)])
    doc.append({"type": "table", "header": ["", "Budget", "Spent", "Used"], "rows": rows})
    if over:
        for title, column in (("Top agents", UsageEvent.agent), ("Top models", UsageEvent.model)):
            top = breakdown(session, story.key, column, limit=3)
            if top:
                doc.append({"type": "paragraph", "text": title})
                doc.append({"type": "bullets", "items": [
                    f"{row['name'] or '(none)'}: {small_dollars(Decimal(row['usd']))}, {row['tokens']:,} tokens"
                    for row in top]})
    doc.append({"type": "link", "text": f"{story.key} in budgetbot",
                "url": signed_story_url(settings, story.key)})
    return doc


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}%"


def usd(nano: int | None) -> str:
    """`$0.71`, `$0.0042` under a cent; no spend (None) reads `$0.00` in the Jira table."""
    return small_money(nano or 0)
