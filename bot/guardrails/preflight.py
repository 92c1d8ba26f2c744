"""POST /api/v1/preflight: the circuit breaker an agent asks before each model call (allow, warn or block)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, current_app, g, jsonify
from pydantic import ValidationError

from bot.components import Registry
from bot.config import ConfigError
from bot.db import Database, get_db, utcnow
from bot.guardrails.blocks import record_block
from bot.guardrails.figures import read_figures
from bot.guardrails.judgement import Estimate, decide, judge, remaining
from bot.guardrails.policy import Policy
from bot.guardrails.policy_file import PolicyError, PolicyHolder, watch_sighup
from bot.guardrails.reservations import lock_story, release, reserve, settle
from bot.guardrails.shapes import ALLOW, BLOCK, WARN, PreflightIn, Reason  # noqa: F401  (re-exported)
from bot.ledger.events import USAGE_RECORDED
from bot.ledger.keys import project_of
from bot.web.auth import require_token
from bot.web.json_io import error, json_body

bp = Blueprint("preflight", __name__, url_prefix="/api/v1")


def _judge(session, request: PreflightIn, settings, policy: Policy, now: datetime, estimate: Estimate):
    figures, labels = read_figures(session, request, settings, now)
    limits = policy.limits(request.agent, project_of(request.story) if request.story else None, labels)
    reasons = judge(figures, limits, estimate, block_unpriced=bool(getattr(settings, "block_unpriced", False)))
    return figures, limits, reasons


def run_preflight(db: Database, request: PreflightIn, settings, policy: Policy, asked_by: str | None = None,
                  now: datetime | None = None) -> dict:
    """Judge the coming call; with an estimate, reserve its headroom unless blocked. Every block is recorded."""
    now = now or utcnow()
    estimate = Estimate.of(request.estimated_tokens, request.estimated_usd)
    reservation = None
    if request.has_estimate:
        # A write: the story's preflights take turns, so parallel runs cannot all take the last headroom.
        with db.transaction() as session:
            lock_story(session, request.story)
            figures, limits, reasons = _judge(session, request, settings, policy, now, estimate)
            if decide(reasons) == BLOCK:
                record_block(session, request, reasons, asked_by, now)
            else:
                reservation = reserve(session, request, estimate, now, settings.reservation_seconds)
    else:
        # A read (`Database.read`): on SQLite it never waits for, or holds, the write lock; WAL gives it a
        # consistent snapshot.
        with db.read() as session:
            figures, limits, reasons = _judge(session, request, settings, policy, now, estimate)
        if decide(reasons) == BLOCK:
            with db.transaction() as session:
                record_block(session, request, reasons, asked_by, now)
    return {
        "decision": decide(reasons),
        "reasons": [reason.as_json() for reason in reasons],
        "story_status": figures.story.status if figures.story else ("no_budget" if request.story else None),
        "remaining": remaining(figures, limits),
        "reservation_id": reservation.id if reservation else None,
        "reservation_expires_at": reservation.expires_at.isoformat().replace("+00:00", "Z") if reservation else None,
    }


def current_policy(app=None) -> Policy:
    return (app or current_app).extensions["budgetbot.policy"].current()


@bp.post("/preflight")
@require_token
def preflight():
    try:
        request = PreflightIn.model_validate(json_body())
    except ValidationError as exc:
        return error(400, "invalid_preflight", "fix these fields",
                     errors=[{"path": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                             for e in exc.errors()])
    settings = current_app.config["SETTINGS"]
    return jsonify(run_preflight(get_db(), request, settings, current_policy(),
                                 asked_by=getattr(g, "api_token_name", None)))


@bp.delete("/preflight/reservations/<reservation_id>")
@require_token
def release_reservation(reservation_id: str):
    """The announced call was not made: give its reserved headroom back now instead of at expiry."""
    with get_db().transaction() as session:
        released = release(session, reservation_id)
    if not released:
        return error(404, "no_such_reservation", "no open reservation with that id (settled, expired or unknown)")
    return jsonify(released=reservation_id)


def install(app: Flask, registry: Registry) -> None:
    """The preflight and breaker routes, the policy (reloaded on SIGHUP or when its file changes), and the
    listener that settles reservations as usage arrives."""
    from bot.guardrails import breakers_api

    settings = app.config["SETTINGS"]
    try:
        holder = PolicyHolder(settings)
    except PolicyError as exc:  # a wrong key or type stops the process, naming the key and the line
        raise ConfigError(f"invalid BUDGETBOT_POLICY_FILE {exc}") from None
    app.extensions["budgetbot.policy"] = holder
    watch_sighup(holder)
    registry.events.listen(USAGE_RECORDED, settle)
    app.register_blueprint(bp)
    app.register_blueprint(breakers_api.bp)
