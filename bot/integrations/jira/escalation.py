"""Spend out and escalation: ledger and budget changes become coalesced Token Spend writes, labels and comments."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.integrations.jira.tables import JiraIssue
from bot.ledger.budgets import Status
from bot.ledger.events import StoryChange
from bot.ledger.ingest import judge_story
from bot.ledger.keys import project_of
from bot.ledger.read import approval_of, breakdown
from bot.ledger.tables import StoryView, UsageEvent
from bot.outbox import enqueue
from bot.outbox.tables import OutboxRow
from bot.reports.format import small_dollars, small_money
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
    settings = _settings()
    if settings is None:
        return
    for change in changes:
        if _in_scope(settings, change.story):
            enqueue_spend(session, settings, change.story)
    on_status_changed(session, changes, settings)


def on_budget_changed(session: Session, changes: list[StoryChange]) -> None:
    settings = _settings()
    if settings is not None:
        on_status_changed(session, changes, settings)


def enqueue_spend(session: Session, settings, story: StoryView, delay: timedelta | None = None) -> bool:
    """Queue a Token Spend write, coalesced per story and held back `jira_spend_interval` seconds so a burst
    of usage events is one PUT. The row carries only the key: the sender writes the spend as it is then,
    so an ingest that finds a row already pending costs one indexed SELECT and no write."""
    coalesce_key = f"jira-spend:{story.key}"
    if session.scalar(select(OutboxRow.id).where(OutboxRow.coalesce_key == coalesce_key,
                                                 OutboxRow.state == "pending").limit(1)) is not None:
        return True
    nano = story.spent_nano_usd if settings.jira_spend_usd_field else None
    state = session.get(JiraIssue, story.key)
    if state is not None and (state.spend_written_tokens, state.spend_written_nano_usd) == (story.spent_tokens, nano):
        return False  # Jira already shows these figures
    enqueue(session, "jira.spend", {"key": story.key}, coalesce_key=coalesce_key,
            delay=timedelta(seconds=settings.jira_spend_interval) if delay is None else delay)
    return True


def on_status_changed(session: Session, changes: list[StoryChange], settings) -> None:
    """Crossing 100% adds the label, the comment (edited on later crossings) and the optional transition;
    coming back under removes the label and turns the comment into a note."""
    for change in changes:
        story = change.story
        if not _in_scope(settings, story) or not (change.crossed_over or change.came_back):
            continue
        label = settings.jira_over_budget_label
        if change.crossed_over:
            enqueue(session, "jira.labels", {"key": story.key, "add": [label]}, coalesce_key=f"jira-labels:{story.key}")
            if settings.jira_over_budget_transition:
                enqueue(session, "jira.transition", {"key": story.key, "name": settings.jira_over_budget_transition},
                        coalesce_key=f"jira-transition:{story.key}")
        else:
            enqueue(session, "jira.labels", {"key": story.key, "remove": [label]},
                    coalesce_key=f"jira-labels:{story.key}")
        doc = over_budget_doc(session, settings, story, over=change.crossed_over)
        enqueue(session, "jira.comment", {"key": story.key, "marker": MARKER, "doc": doc},
                coalesce_key=f"jira-comment:{story.key}:{MARKER}")


def over_budget_doc(session: Session, settings, story: StoryView, *, over: bool) -> list[dict]:
    """The escalation comment as `jira.comment` blocks: who, budget vs spend, where it went, a link."""
    verdict = judge_story(story, settings.warn_threshold)
    approved = not over and verdict.status == Status.OVERRIDDEN
    heading = "Over token budget" if over else "Overrun approved" if approved else "Back within token budget"
    doc: list[dict] = [{"type": "heading", "text": heading}]
    if over:
        state = session.get(JiraIssue, story.key)
        for account in (state.assignee_id if state else None, settings.jira_escalation_user):
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
