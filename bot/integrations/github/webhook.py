"""POST /webhooks/github: verify the signature, drop redeliveries, record and enqueue — never call GitHub here.

Fails closed: no secret configured is 503, a missing or wrong signature is 401, also in dry-run. Dry-run only
changes what budgetbot SENDS (requests are recorded instead); what it accepts is never loosened, because an
unsigned endpoint would let anyone approve overruns or flip checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from flask import Blueprint, current_app, jsonify, request

from bot.db import get_db, utcnow
from bot.integrations.deliveries import Delivery as DeliveryRow
from bot.integrations.github.events import Delivery, route
from bot.integrations.github.payloads import PayloadInvalid, parse
from bot.upsert import dialect_insert

bp = Blueprint("github", __name__)
log = logging.getLogger(__name__)


def signature_for(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 check, constant-time (a timing leak would let a forger guess it byte by byte)."""
    if not header:
        return False
    return hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode())


def _answer(code: int, **body):
    response = jsonify(**body)
    response.status_code = code
    return response


@bp.post("/webhooks/github")
def receive():
    settings = current_app.config["SETTINGS"]
    secret = settings.github_webhook_secret.get_secret_value() if settings.github_webhook_secret else ""
    if not secret:
        return _answer(503, error="not_configured", message="GitHub webhooks are not configured: set "
                       "BUDGETBOT_GITHUB_WEBHOOK_SECRET to the webhook secret of the GitHub App")
    body = request.get_data(cache=True)
    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        return _answer(401, error="missing_signature", message="X-Hub-Signature-256 header missing: "
                       "set the webhook secret on the GitHub App")
    if not verify_signature(secret.encode(), body, signature):
        return _answer(401, error="bad_signature", message="X-Hub-Signature-256 does not match the body: "
                       "the App's webhook secret differs from BUDGETBOT_GITHUB_WEBHOOK_SECRET")
    event, delivery_id = request.headers.get("X-GitHub-Event"), request.headers.get("X-GitHub-Delivery")
    for header, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery_id)):
        if not value or len(value) > 100:
            return _answer(400, error="bad_header", message=f"{header} header missing or too long",
                           errors=[{"path": header, "message": "required"}])
    payload = _payload(body)
    if not isinstance(payload, dict):
        return _answer(400, error="malformed_json", message="the body is not a JSON object",
                       errors=[{"path": "body", "message": "not a JSON object"}])
    return _dispatch(settings, event or "", delivery_id or "", payload)  # both checked above


def _payload(body: bytes) -> object:
    # Repository webhooks may be set to form encoding (payload=<json>); the signature covers the raw body.
    if request.mimetype == "application/x-www-form-urlencoded":
        body = (request.form.get("payload") or "").encode()
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's stack
        return None


def _dispatch(settings, event: str, delivery_id: str, payload: dict):
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    name = f"{event}.{action}" if action else event
    target = route(event, action)
    typed = None
    if callable(target):
        # Typed before anything is stored: a signed payload of the wrong shape must not reach the tables.
        try:
            typed = parse(event, payload)
        except PayloadInvalid as exc:
            log.warning("github delivery %s: %s payload invalid: %s", delivery_id, name, exc)
            return _answer(400, error="invalid_payload", message=f"{name} payload: {exc}", errors=exc.errors)
    return _process(settings, event, action, name, delivery_id, typed, target)


def _process(settings, event, action, name, delivery_id, typed, target):
    # The delivery row and everything the handler writes (tracking, outbox rows) commit together, so a
    # failed handler leaves no delivery behind and GitHub's manual redelivery is processed in full.
    with get_db().transaction() as session:
        stmt = dialect_insert(session, DeliveryRow).values(
            source="github", delivery_id=delivery_id, event=name[:100], received_at=utcnow())
        inserted = session.scalar(stmt.on_conflict_do_nothing(index_elements=["source", "delivery_id"])
                                  .returning(DeliveryRow.id))
        if inserted is None:
            return _answer(200, status="duplicate", delivery=delivery_id,
                           message="this delivery was already processed")
        if target is None:
            log.warning("github delivery %s: unexpected event %s (not in the handled or ignored lists)",
                        delivery_id, name)
            return _answer(202, status="unknown_event", event=name, message="event not handled; it was logged")
        if target == "ignored":
            return _answer(200, status="ignored", event=name)
        result = target(Delivery(session, settings, event, action, typed, delivery_id))
    return _answer(200, status="processed", event=name, **result)
