"""POST /webhooks/jira: signed, deduplicated issue events keep budgets and story details in step with Jira."""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.orm import Session

from bot.db import get_db, utcnow
from bot.integrations.deliveries import Delivery
from bot.integrations.jira.field_copy import stored_field_map
from bot.integrations.jira.fields import FieldMap
from bot.integrations.jira.issues import apply_budget, apply_fields
from bot.integrations.jira.payloads import Issue, IssueInvalid, parse_issue
from bot.ledger.keys import InvalidStoryKey, normalize_key, project_of
from bot.ledger.tables import Story
from bot.upsert import dialect_insert

log = logging.getLogger(__name__)
bp = Blueprint("jira_webhook", __name__)

# Events deliberately not handled: comments (including budgetbot's own), worklogs, links, boards, sprints
# (reconcile reads sprints from the Agile API), projects, versions, users, attachments, field options.
IGNORED = {
    "comment_created", "comment_updated", "comment_deleted", "worklog_created", "worklog_updated",
    "worklog_deleted", "issuelink_created", "issuelink_deleted", "sprint_created", "sprint_started",
    "sprint_updated", "sprint_closed", "sprint_deleted", "board_created", "board_updated", "board_deleted",
    "board_configuration_changed", "project_created", "project_updated", "project_deleted",
    "jira:version_created", "jira:version_updated", "jira:version_released", "jira:version_unreleased",
    "jira:version_moved", "jira:version_deleted", "user_created", "user_updated", "user_deleted",
    "attachment_created", "attachment_deleted", "option_voting_changed", "option_watching_changed",
    "option_unassigned_issues_changed", "option_subtasks_changed", "option_attachments_changed",
    "option_issuelinks_changed", "option_timetracking_changed",
}


def _answer(status: int, **body):
    response = jsonify(**body)
    response.status_code = status
    return response


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw body, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    # Bytes, not str: compare_digest refuses non-ASCII text, and a forged header must be a 401, not a 500.
    presented = header.removeprefix("sha256=").strip().lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, presented)


@bp.post("/webhooks/jira")
def receive():
    settings = current_app.config["SETTINGS"]
    body = request.get_data(cache=True)
    secret = settings.jira_webhook_secret
    if secret is not None and secret.get_secret_value():
        if not signature_ok(secret.get_secret_value(), body, request.headers.get("X-Hub-Signature")):
            return _answer(401, error="bad_signature", message="X-Hub-Signature is missing or does not match "
                           "BUDGETBOT_JIRA_WEBHOOK_SECRET")
    elif not settings.dry_run:
        # Fail closed (DESIGN rule 6): without a secret anyone could set budgets, so nothing is accepted.
        return _answer(401, error="webhook_secret_not_set", message="set BUDGETBOT_JIRA_WEBHOOK_SECRET and the "
                       "same secret on the Jira webhook (unsigned webhooks are accepted only in dry-run)")
    try:
        payload = request.get_json(force=True, silent=True)
    except RecursionError:  # nested deeper than the parser's stack: not a body Jira sends
        payload = None
    if not isinstance(payload, dict):
        return _answer(400, error="malformed_json", message="the body is not a JSON object",
                       errors=[{"path": "body", "message": "not a JSON object"}])
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event or len(event) > 100 or "\x00" in event:
        return _answer(400, error="missing_event", message="no webhookEvent in the body",
                       errors=[{"path": "webhookEvent", "message": "required"}])
    if event in IGNORED:
        return _answer(200, result="ignored", event=event)
    handler = HANDLERS.get(event)
    if handler is None:
        log.warning("Jira webhook event %r is not handled (add it to HANDLERS or IGNORED)", event)
        return _answer(202, result="unknown_event", event=event)
    issue = payload.get("issue")
    try:
        key = normalize_key(issue["key"])  # type: ignore[index]
    except (TypeError, KeyError, AttributeError, InvalidStoryKey):
        return _answer(400, error="invalid_issue", message=f"{event} without a valid issue.key",
                       errors=[{"path": "issue.key", "message": "a Jira issue key such as PROJ-123 is required"}])
    if settings.jira_projects and project_of(key) not in settings.jira_projects:
        return _answer(200, result="ignored", event=event, reason=f"project {project_of(key)} is not configured")
    try:
        typed = parse_issue(issue)  # type: ignore[arg-type]
    except IssueInvalid as exc:
        return _answer(400, error="invalid_issue", message=f"{event}: {exc}", errors=exc.errors)
    delivery_id = request.headers.get("X-Atlassian-Webhook-Identifier")
    with get_db().transaction() as session:
        if delivery_id and not _first_delivery(session, delivery_id, event):
            return _answer(200, result="duplicate", delivery=delivery_id)
        # From the stored copy, never from Jira: Jira is waiting for this answer (see field_copy).
        fmap = stored_field_map(session, settings) if handler is not on_issue_deleted else None
        result = handler(session, settings, fmap, key, payload, typed)
    return _answer(200, result=result, event=event, key=key)


def delivery_key(identifier: str) -> str:
    """The identifier as stored: whole when it fits the column, else its SHA-256 (never a prefix, which two
    deliveries can share)."""
    if len(identifier) <= 200:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8", "surrogateescape")).hexdigest()


def _first_delivery(session: Session, delivery_id: str, event: str) -> bool:
    stmt = dialect_insert(session, Delivery).values(source="jira", delivery_id=delivery_key(delivery_id),
                                                   event=event[:100], received_at=utcnow())
    stmt = stmt.on_conflict_do_nothing(index_elements=["source", "delivery_id"]).returning(Delivery.id)
    return session.scalar(stmt) is not None


def budget_change(settings, fmap: FieldMap | None, changelog: object) -> dict | None:
    """The changelog item of the budget field: matched by fieldId, or (older/Server payloads without
    fieldId) by name mapped through the field list. Token Spend items never match, so our own writes
    coming back cannot loop."""
    items = changelog.get("items") if isinstance(changelog, dict) else None
    for item in items or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("field") or "")
        if fmap is None:
            if name.strip().lower() == settings.jira_budget_field.strip().lower():
                return item
        elif item.get("fieldId"):
            if item["fieldId"] == fmap.budget.id:
                return item
        elif fmap.budget.id in fmap.ids_named(name):
            return item
    return None


def on_issue_changed(session: Session, settings, fmap: FieldMap | None, key: str, payload: dict,
                     typed: Issue) -> str:
    issue = payload["issue"]
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    apply_fields(session, fmap, key, typed.id, fields, typed.fields)
    item = budget_change(settings, fmap, payload.get("changelog"))
    if item is not None:
        raw = item.get("toString") if item.get("toString") is not None else item.get("to")
    elif payload.get("webhookEvent") == "jira:issue_created" and fmap and fields.get(fmap.budget.id) is not None:
        raw = fields[fmap.budget.id]
    else:
        return "updated"
    change = apply_budget(session, settings, key, raw)
    return "budget_changed" if change is not None else "updated"


def on_issue_deleted(session: Session, settings, fmap: FieldMap | None, key: str, payload: dict,
                     typed: Issue) -> str:
    story = session.get(Story, key)
    if story is None:
        return "unknown_story"
    story.deleted = True  # the ledger keeps its events: spend already happened
    return "deleted"


HANDLERS = {
    "jira:issue_created": on_issue_changed,
    "jira:issue_updated": on_issue_changed,
    "jira:issue_deleted": on_issue_deleted,
}
