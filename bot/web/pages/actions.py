"""What admins change from the pages: retry a dead outbox row, trip and clear kill switches, approve overruns."""

from __future__ import annotations

import importlib

from flask import abort, current_app, flash, redirect, request, url_for

from bot.db import get_db, utcnow
from bot.guardrails import breaker_store
from bot.guardrails.tables import Breaker
from bot.ledger.keys import InvalidStoryKey, normalize_key
from bot.outbox.admin import retry_dead
from bot.web.login import _safe_next, admin_required, current_user
from bot.web.pages.blueprint import bp

SCOPES = ("all", "agent", "story", "run")  # as `budgetbot breaker trip` takes them


def _back(default: str):
    return redirect(_safe_next(request.form.get("next")) or default)


@bp.post("/outbox/<int:row_id>/retry")
@admin_required
def retry_outbox_row(row_id: int):
    with get_db().transaction() as session:
        outcome = retry_dead(session, [row_id])
    if outcome.redriven:
        flash(f"Row {row_id} is pending again and will be sent shortly.")
    elif row_id in outcome.superseded:
        flash(f"Row {row_id} was not retried: row {outcome.superseded[row_id]} has newer content for the same "
              "target and is the one that counts.")
    else:
        flash(f"Row {row_id} is not dead (already retried or sent).")
    return redirect(url_for("dashboard.outbox"))


@bp.post("/breakers")
@admin_required
def trip_breaker():
    scope, target = request.form.get("scope", ""), request.form.get("target", "").strip()
    reason = request.form.get("reason", "").strip()
    if scope not in SCOPES or not reason or (scope != "all" and not target) or len(target) > 200:
        abort(400, description="A kill switch needs a scope (all, agent, story, run), a target and a reason.")
    if scope == "story":
        try:
            target = normalize_key(target)
        except InvalidStoryKey as exc:
            abort(400, description=str(exc))
    user = current_user()
    try:
        with get_db().transaction() as session:  # the store's trip: a tripped breaker stays the one breaker
            tripped = breaker_store.trip(session, scope, "" if scope == "all" else target, reason[:2000],
                                         user.name if user else None)
            label, by = tripped.breaker.label, tripped.breaker.tripped_by
    except breaker_store.BreakerError as exc:
        abort(400, description=str(exc))
    if tripped.created:
        flash(f"Tripped: preflight now blocks {label}.")
    else:
        flash(f"Already tripped{f' by {by}' if by else ''}: preflight blocks {label}; it stays the one kill switch.")
    return _back(url_for("dashboard.alerts"))


@bp.post("/breakers/<int:breaker_id>/clear")
@admin_required
def clear_breaker(breaker_id: int):
    user = current_user()
    with get_db().transaction() as session:
        item = session.get(Breaker, breaker_id)
        if item is None or item.cleared_at is not None:
            flash("That kill switch was already cleared.")
        else:
            item.cleared_at = utcnow()
            if hasattr(item, "cleared_by"):  # the audit column the guardrails work adds
                item.cleared_by = user.name if user else None
            flash(f"Cleared the kill switch on {item.label}.")
    return _back(url_for("dashboard.alerts"))


def approvals_module():
    """The core approvals (bot.ledger.approvals), once that work is merged; None before, and the form is hidden."""
    try:
        return importlib.import_module("bot.ledger.approvals")
    except ImportError:
        return None


@bp.post("/stories/<key>/approval")
@admin_required
def approve_overrun(key: str):
    approvals = approvals_module()
    if approvals is None:
        abort(404, description="Approving overruns needs the core approvals, not installed here.")
    reason = request.form.get("reason", "").strip()
    if not reason:
        abort(400, description="Say why the overrun is accepted.")
    try:
        key = normalize_key(key)
    except InvalidStoryKey as exc:
        abort(404, description=str(exc))
    user = current_user()
    settings = current_app.config["SETTINGS"]
    try:
        with get_db().transaction() as session:
            approvals.approve(session, key, user.name if user else "dashboard", reason[:2000], "dashboard",
                              settings.warn_threshold)
    except approvals.ApprovalError as exc:
        abort(400, description=str(exc))
    flash(f"Approved the overrun of {key}: it counts as overridden now.")
    return redirect(url_for("dashboard.story", key=key))
