"""Outbox senders for Jira: Token Spend, comments edited in place, labels, transitions. Each is idempotent."""

from __future__ import annotations

import logging
from decimal import Decimal

from bot.db import Database
from bot.integrations.jira import store
from bot.integrations.jira.client import JiraClient, JiraRejected, client_for
from bot.integrations.jira.fields import FieldError, FieldMap, JiraField, field_map
from bot.integrations.jira.render import PROPERTY_KEY, DocError, marker_property, to_adf, to_wiki, validate
from bot.ledger.budgets import NANO
from bot.outbox import PermanentError, SendContext, SenderSet

log = logging.getLogger(__name__)
senders = SenderSet("jira")


def _fields(client: JiraClient, ctx: SendContext) -> FieldMap:
    settings = ctx.settings
    if not client.configured and ctx.dry_run:
        # No credentials to read the field list: the recorded request names the field instead of its id.
        def placeholder(name: str | None) -> JiraField | None:
            return JiraField(f"<id of {name}>", name, "number", None) if name else None
        budget, spend = placeholder(settings.jira_budget_field), placeholder(settings.jira_spend_field)
        assert budget is not None and spend is not None  # both fields are required settings, never empty
        return FieldMap(budget, spend, placeholder(settings.jira_spend_usd_field), None, None)
    try:
        return field_map(client, settings)
    except FieldError as exc:
        raise PermanentError(str(exc)) from None


def _db(ctx: SendContext) -> Database:
    """The worker's Database: the one path to the database a sender has."""
    assert ctx.db is not None, "the worker gives every sender the app's database"
    return ctx.db


def _key(payload: dict) -> str:
    key = payload.get("key")
    if not isinstance(key, str) or not key:
        raise PermanentError("payload has no issue key")
    return key


@senders.sender("jira.spend")
def send_spend(payload: dict, ctx: SendContext) -> dict | None:
    """PUT the story's Token Spend as the ledger has it now (and USD spend, if configured); nothing when
    Jira already shows it."""
    settings, key = ctx.settings, _key(payload)
    spent = store.story_spend(_db(ctx), key)
    if spent is None:
        return {"skipped": "no such story"}
    tokens, nano = spent[0], (spent[1] if settings.jira_spend_usd_field else None)
    if not ctx.dry_run and store.spend_written(_db(ctx), key) == (tokens, nano):
        return {"skipped": "unchanged"}
    client = client_for(settings)
    fmap = _fields(client, ctx)
    values: dict[str, object] = {fmap.spend.id: tokens}
    if fmap.spend_usd is not None and nano is not None:
        values[fmap.spend_usd.id] = float(round(Decimal(nano) / NANO, 6))
    client.edit_issue(ctx, key, {"fields": values})
    if not ctx.dry_run:
        store.save_spend_written(_db(ctx), key, tokens, nano, ctx.now)
    return {"tokens": tokens}


@senders.sender("jira.comment")
def send_comment(payload: dict, ctx: SendContext) -> dict | None:
    """Create the (key, marker) comment once; later sends edit it in place (ADF on Cloud, wiki on Data Center)."""
    settings, key = ctx.settings, _key(payload)
    marker = payload.get("marker")
    if not isinstance(marker, str) or not marker:
        raise PermanentError("jira.comment payload has no marker")
    try:
        doc = validate(payload.get("doc"))
        client = client_for(settings)
        body = {"body": to_adf(doc) if client.cloud else to_wiki(doc, marker)}
    except DocError as exc:
        raise PermanentError(f"jira.comment for {key}: {exc}") from None
    comment_id = store.comment_id(_db(ctx), key, marker)
    if comment_id is None and client.configured:
        comment_id = find_marked_comment(client, key, marker)
    if comment_id is not None:
        try:
            client.update_comment(ctx, key, comment_id, body)
            return {"comment_id": comment_id, "edited": True}
        except JiraRejected as exc:
            if exc.status != 404:
                raise
            log.info("%s: budgetbot's %s comment %s was deleted; posting a new one", key, marker, comment_id)
    created = client.add_comment(ctx, key, {**body, "properties": [marker_property(marker)]})
    new_id = str(created["id"]) if isinstance(created, dict) and created.get("id") else None
    if new_id and not ctx.dry_run:
        store.save_comment_id(_db(ctx), key, marker, new_id)
    return {"comment_id": new_id, "edited": False}


def find_marked_comment(client: JiraClient, key: str, marker: str) -> str | None:
    """The id of a comment carrying our hidden marker (a sent comment whose id was never stored)."""
    for comment in client.comments(key).get("comments") or []:
        for prop in comment.get("properties") or []:
            if prop.get("key") == PROPERTY_KEY and (prop.get("value") or {}).get("marker") == marker:
                return str(comment["id"])
    return None


@senders.sender("jira.labels")
def send_labels(payload: dict, ctx: SendContext) -> dict | None:
    """Add/remove labels through `update.labels` (never `fields.labels`, which would drop people's labels)."""
    key = _key(payload)
    ops = [{"add": label} for label in payload.get("add") or []]
    ops += [{"remove": label} for label in payload.get("remove") or []]
    if not ops:
        return None
    client_for(ctx.settings).edit_issue(ctx, key, {"update": {"labels": ops}})
    return {"labels": ops}


@senders.sender("jira.transition")
def send_transition(payload: dict, ctx: SendContext) -> dict | None:
    """Move the issue through the configured transition, found by name and posted by its id."""
    key, name = _key(payload), str(payload.get("name") or "")
    client = client_for(ctx.settings)
    if not client.configured and ctx.dry_run:
        client.transition(ctx, key, f"<id of transition {name}>")
        return None
    transitions = client.transitions(key)
    wanted = name.strip().lower()
    match = next((t for t in transitions if str(t.get("name", "")).lower() == wanted), None) or next(
        (t for t in transitions if str((t.get("to") or {}).get("name", "")).lower() == wanted), None)
    if match is None:
        status = client.status_of(key)
        if status.lower() == wanted:
            return {"already": status}  # a retry after the transition went through
        names = ", ".join(sorted(str(t.get("name")) for t in transitions)) or "none"
        raise PermanentError(f"{key}: no transition {name!r} from status {status!r} (available: {names}); "
                             "fix BUDGETBOT_JIRA_OVER_BUDGET_TRANSITION or the workflow")
    client.transition(ctx, key, str(match["id"]))
    return {"transition": str(match["id"])}

