"""Reconcile: page through a JQL search and correct drift both ways (budgets in, spend out), then sync sprints."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial

from flask import Flask
from sqlalchemy import distinct, literal, select
from sqlalchemy.orm import Session

from bot.db import Database, get_db
from bot.integrations.jira.client import JiraClient, client_for, is_configured
from bot.integrations.jira.escalation import enqueue_spend
from bot.integrations.jira.fields import FieldMap, field_map
from bot.integrations.jira.issues import apply_budget, apply_fields, issue_state, upsert_sprint
from bot.integrations.jira.tables import JiraIssue
from bot.ledger.budgets import usd_to_nano
from bot.ledger.keys import project_of
from bot.ledger.tables import Story
from bot.outbox.tables import OutboxRow

log = logging.getLogger(__name__)
PAGE_SIZE = 100
MAX_PAGES = 1000  # 100,000 issues: a runaway JQL stops here instead of paging forever


def default_jql(settings) -> str:
    """The configured JQL, else recently updated issues of the configured projects (a webhook missed in the
    last day is caught; run `budgetbot jira reconcile --jql 'project = X'` once for a full pass)."""
    if settings.jira_reconcile_jql:
        return settings.jira_reconcile_jql
    if settings.jira_projects:
        return f"project in ({', '.join(settings.jira_projects)}) AND updated >= -1d ORDER BY key"
    return f'"{settings.jira_budget_field}" is not EMPTY AND updated >= -1d ORDER BY key'


def run(app: Flask) -> dict:
    """For the clock, every 15 minutes: reconcile with the default JQL. Never raises on Jira trouble."""
    settings = app.config["SETTINGS"]
    if not is_configured(settings):
        return {"skipped": "Jira is not configured"}
    with app.app_context():
        try:
            return reconcile(settings, get_db(app))
        except Exception as exc:
            log.warning("Jira reconcile failed: %s", exc)
            return {"error": str(exc)}


def reconcile(settings, db: Database, jql: str | None = None) -> dict:
    """Mirror budgets and story details from Jira, queue Token Spend writes where Jira differs. Returns counts."""
    client = client_for(settings)
    fmap = field_map(client, settings, refresh=True)
    counts: Counter = Counter()
    for issues in search(client, jql or default_jql(settings), fmap.wanted()):
        with db.transaction() as session:
            for issue in issues:
                apply_issue(session, settings, fmap, issue, counts)
    with db.transaction() as session:
        counts["spend_queued"] += requeue_unwritten_spend(session, settings)
    counts["sprints"] += sync_sprints(client, db, settings)
    return {"jql": jql or default_jql(settings), **{k: counts[k] for k in (
        "issues", "budgets_changed", "spend_queued", "sprints")}}


def search(client: JiraClient, jql: str, fields: list[str]):
    """Pages of issues: Cloud POST /rest/api/3/search/jql (nextPageToken), Data Center POST /search (startAt)."""
    token, start = None, 0
    for _ in range(MAX_PAGES):
        body: dict = {"jql": jql, "fields": fields, "maxResults": PAGE_SIZE}
        if client.cloud:
            if token:
                body["nextPageToken"] = token
        else:
            body["startAt"] = start
        page = client.search(body)
        issues = page.get("issues") or []
        yield issues
        start += len(issues)
        token = page.get("nextPageToken")
        if client.cloud and (page.get("isLast", not token) or not token):
            return
        if not client.cloud and (not issues or start >= int(page.get("total") or 0)):
            return
    log.warning("reconcile stopped after %s pages of %r", MAX_PAGES, jql)


def apply_issue(session: Session, settings, fmap: FieldMap, issue: dict, counts: Counter) -> None:
    key = str(issue.get("key") or "").upper()
    fields = issue.get("fields") or {}
    if not key or (settings.jira_projects and project_of(key) not in settings.jira_projects):
        return
    counts["issues"] += 1
    story = apply_fields(session, fmap, key, issue.get("id"), fields)
    if apply_budget(session, settings, key, fields.get(fmap.budget.id), from_search=True) is not None:
        counts["budgets_changed"] += 1
    # Spend out: what Jira shows against the ledger. Equal -> remembered, so usage does not rewrite it.
    shown_tokens = _int(fields.get(fmap.spend.id))
    shown_nano = _nano(fields.get(fmap.spend_usd.id)) if fmap.spend_usd else None
    wanted_nano = story.spent_nano_usd if fmap.spend_usd else None
    state = issue_state(session, key)
    if shown_tokens is None and story.spent_tokens == 0 and not wanted_nano:
        return
    if shown_tokens == story.spent_tokens and (fmap.spend_usd is None or _micro(shown_nano) == _micro(wanted_nano)):
        state.spend_written_tokens, state.spend_written_nano_usd = story.spent_tokens, wanted_nano
        return
    state.spend_written_tokens = state.spend_written_nano_usd = None  # Jira differs: write it again
    session.flush()
    if enqueue_spend(session, settings, story, delay=timedelta(0)):
        counts["spend_queued"] += 1


def requeue_unwritten_spend(session: Session, settings) -> int:
    """Stories seen in Jira whose latest spend never reached it (a dead-lettered write, say)."""
    pending = select(OutboxRow.id).where(OutboxRow.state == "pending",
                                         OutboxRow.coalesce_key == literal("jira-spend:") + Story.key)
    stories = session.scalars(select(Story).join(JiraIssue, JiraIssue.key == Story.key).where(
        JiraIssue.issue_id.is_not(None), Story.deleted.is_(False), Story.spent_tokens > 0, ~pending.exists(),
        (JiraIssue.spend_written_tokens.is_(None)) | (JiraIssue.spend_written_tokens != Story.spent_tokens)))
    queued = 0
    for story in stories:
        if not settings.jira_projects or project_of(story.key) in settings.jira_projects:
            queued += enqueue_spend(session, settings, story, delay=timedelta(0))
    return queued


def sync_sprints(client: JiraClient, db: Database, settings) -> int:
    """Sprints (name, state, start, end) of the projects' scrum boards, from the Agile API."""
    projects = list(settings.jira_projects)
    if not projects:
        with db.session_factory() as session:
            projects = sorted(session.scalars(select(distinct(Story.project)).join(
                JiraIssue, JiraIssue.key == Story.key)))
    seen, boards = 0, set()
    for project in projects:
        for board in _paged(client.boards, {"projectKeyOrId": project, "type": "scrum"}):
            if board["id"] in boards:
                continue  # one board can span several projects
            boards.add(board["id"])
            sprints = list(_paged(partial(client.sprints, int(board["id"])), {}))
            with db.transaction() as session:
                for sprint in sprints:
                    seen += upsert_sprint(session, sprint, board_id=int(board["id"])) is not None
    return seen


def _paged(fetch: Callable[[dict], dict], params: dict):
    """The values of an Agile API listing, page by page (startAt / isLast)."""
    start = 0
    for _ in range(MAX_PAGES):
        page = fetch({**params, "startAt": start, "maxResults": 50})
        values = page.get("values") or []
        yield from values
        start += len(values)
        if page.get("isLast", True) or not values:
            return


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _micro(nano: int | None) -> int | None:
    """Jira keeps USD spend to the micro-dollar (it is written rounded to 6 decimals)."""
    return None if nano is None else round(nano / 1000)


def _nano(value: object) -> int | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return usd_to_nano(Decimal(str(value)))
