"""Helpers for the scrum and Slack tests: build a ledger, drain Slack rows, let `responses` see slack_sdk's calls."""

from __future__ import annotations

import email.message
import io
import json
from datetime import timedelta
from urllib.error import HTTPError

import requests
from sqlalchemy import select

from bot.app_pricer import get_pricer
from bot.components import registry
from bot.db import utcnow
from bot.ledger.ingest import ingest
from bot.ledger.tables import Sprint, Story
from bot.ledger.usage_shapes import parse_usage_body
from bot.outbox import PermanentError, RetryableError, SendContext
from bot.outbox.tables import OutboxRow

SLACK = "https://slack.test/api/"


def urllib_through_requests(monkeypatch) -> None:
    """slack_sdk speaks urllib; route its two urlopen calls through `requests` so `responses` records them.
    The request (method, URL, headers, body) is passed on unchanged; errors come back as urllib's HTTPError."""

    def urlopen(req, context=None, timeout=None):
        answer = requests.request(req.get_method(), req.full_url, data=req.data, headers=dict(req.header_items()),
                                  timeout=timeout)
        headers = email.message.Message()
        for name, value in answer.headers.items():
            headers[name] = value
        if answer.status_code >= 400:
            raise HTTPError(req.full_url, answer.status_code, answer.reason, headers, io.BytesIO(answer.content))
        return _Response(answer.status_code, headers, answer.content)

    monkeypatch.setattr("slack_sdk.web.base_client.urlopen", urlopen)
    monkeypatch.setattr("slack_sdk.web.internal_utils.urlopen", urlopen)


class _Response:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.code = self.status = status
        self.headers = headers
        self._body = body

    def read(self) -> bytes:
        return self._body


def event(event_id: str, when: str, cost: str = "0.01", **fields) -> dict:
    """A usage event with a client-known cost (so the figures do not depend on price tables)."""
    return {"event_id": event_id, "occurred_at": when, "model": fields.pop("model", "gpt-4o"),
            "input_tokens": fields.pop("input_tokens", 1000), "output_tokens": fields.pop("output_tokens", 100),
            "cost_usd": cost, **fields}


def ingest_events(app, db, events: list[dict]) -> None:
    """Ingest as an agent reports: just after the latest event (an event older than a day raises no alert)."""
    import time_machine

    parsed, _ = parse_usage_body({"events": events}, 10**6)
    arrival = max((e.occurred_at for e in parsed if e.occurred_at), default=None)
    with time_machine.travel(arrival + timedelta(minutes=1) if arrival else utcnow(), tick=False), \
            app.app_context(), db.transaction() as session:
        ingest(session, parsed, get_pricer(), app.config["SETTINGS"].warn_threshold)


def add_sprint(db, name: str, start, end, state: str = "active") -> None:
    with db.transaction() as session:
        session.add(Sprint(name=name, state=state, start_at=start, end_at=end))


def set_story(db, key: str, **fields) -> None:
    with db.transaction() as session:
        story = session.get(Story, key)
        if story is None:
            story = Story(key=key, project=key.split("-")[0], spent_tokens=0, spent_nano_usd=0, events=0,
                          unpriced_events=0)
            session.add(story)
        for name, value in fields.items():
            setattr(story, name, value)


def rows(db, kind: str | None = None, state: str | None = None) -> list[OutboxRow]:
    with db.session_factory() as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if kind:
            query = query.where(OutboxRow.kind == kind)
        if state:
            query = query.where(OutboxRow.state == state)
        return list(session.scalars(query))


def drain(app, db, kind: str = "slack.message") -> list[OutboxRow]:
    """Send the pending rows of `kind` the way the outbox worker does: claim, send outside the transaction (the
    sender commits what it stores itself), record the outcome."""
    settings = app.config["SETTINGS"]
    done = []
    for row in rows(db, kind, "pending"):
        registration = registry(app).senders[row.kind]
        ctx = SendContext(settings=settings, dry_run=registry(app).is_dry_run(settings, registration.integration),
                          now=row.created_at, db=db)
        with app.app_context():
            try:
                registration.send(row.payload, ctx)
                state, error = "done", None
            except (RetryableError, PermanentError) as exc:
                state, error = ("dead" if isinstance(exc, PermanentError) else "pending"), exc
        with db.transaction() as session:
            stored = session.get(OutboxRow, row.id)
            stored.state, stored.attempts = state, stored.attempts + 1
            stored.dry_run_request = ctx.recorded or None
            stored.last_error = str(error) if error else None
        done.append((row, ctx, error))
    return done


def body(call) -> dict:
    """The JSON (or form) body of a recorded `responses` call."""
    content_type = call.request.headers.get("Content-Type", "")
    raw = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
    if content_type.startswith("application/json"):
        return json.loads(raw)
    from urllib.parse import parse_qsl

    return dict(parse_qsl(raw))
