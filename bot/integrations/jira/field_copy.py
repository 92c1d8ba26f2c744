"""budgetbot's stored copy of the Jira field list: webhooks read it, the `jira.fields` outbox job refreshes it.

Jira waits for the webhook's answer and retries when it is slow, so the webhook never calls Jira: it resolves
the field list stored here (in the database, so every web process shares one copy) and, when the copy is
missing or over an hour old, queues its refresh in the same transaction. The worker then fetches it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.integrations.jira.client import client_for
from bot.integrations.jira.fields import CACHE_SECONDS, FieldError, FieldMap, resolve
from bot.integrations.jira.tables import JiraFieldList
from bot.outbox import SendContext, SenderSet, enqueue
from bot.upsert import dialect_insert

log = logging.getLogger(__name__)
REFRESH_KIND = "jira.fields"
_resolved: dict[tuple, FieldMap | FieldError] = {}  # (site, fetched_at, configured names) -> resolution
_lock = threading.Lock()
senders = SenderSet("jira")  # registered by the Jira component beside the other Jira senders


def site_of(settings) -> str | None:
    return str(settings.jira_url).rstrip("/") if settings.jira_url else None


def store_field_list(session: Session, settings, fields: list[dict], fetched_at: datetime) -> None:
    site = site_of(settings)
    if site is None:
        return
    stmt = dialect_insert(session, JiraFieldList).values(site=site, fields=fields, fetched_at=fetched_at)
    session.execute(stmt.on_conflict_do_update(index_elements=["site"], set_={
        "fields": stmt.excluded.fields, "fetched_at": stmt.excluded.fetched_at}))


def stored_field_map(session: Session, settings, now: datetime | None = None) -> FieldMap | None:
    """The resolved stored field list (None if there is none or it does not resolve); queues a refresh in
    the caller's transaction when the copy is missing or stale. Never calls Jira."""
    site = site_of(settings)
    if site is None:
        return None
    fetched_at = session.scalar(select(JiraFieldList.fetched_at).where(JiraFieldList.site == site))
    now = now or utcnow()
    if fetched_at is None or now - fetched_at > timedelta(seconds=CACHE_SECONDS):
        enqueue(session, REFRESH_KIND, {"site": site}, coalesce_key=f"{REFRESH_KIND}:{site}")
    if fetched_at is None:
        return None
    key = (site, fetched_at, settings.jira_budget_field, settings.jira_spend_field, settings.jira_spend_usd_field,
           settings.jira_story_points_field, settings.jira_sprint_field)
    with _lock:
        resolved = _resolved.get(key)
    if resolved is None:
        fields = session.scalar(select(JiraFieldList.fields).where(JiraFieldList.site == site)) or []
        try:
            resolved = resolve(fields, settings)
        except (FieldError, KeyError, TypeError, AttributeError) as exc:
            resolved = exc if isinstance(exc, FieldError) else FieldError(f"stored field list unusable: {exc}")
        with _lock:
            _resolved.clear()  # only the newest copy is ever asked for again
            _resolved[key] = resolved
    if isinstance(resolved, FieldError):
        log.warning("Jira field list: %s; matching the budget field by name only", resolved)
        return None
    return resolved


@senders.sender(REFRESH_KIND)
def refresh_field_list(payload: dict, ctx: SendContext) -> dict | None:
    """GET {api}/field and store it (a read: also done in dry-run when credentials are set)."""
    client = client_for(ctx.settings)
    if not client.configured:
        return {"skipped": "Jira credentials are not set: the budget field is matched by name"}
    fields = client.request("GET", f"{client.api}/field")
    if not isinstance(fields, list):
        fields = []
    db = ctx.db
    assert db is not None, "the worker gives every sender the app's database"
    with db.transaction() as session:
        store_field_list(session, ctx.settings, fields, ctx.now)
    return {"fields": len(fields)}
