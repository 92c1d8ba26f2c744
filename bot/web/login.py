"""Who is looking: log in and out, the session's user, the roles, CSRF on every form, and signed story links."""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from bot.db import get_db
from bot.web.dashboard_keys import LinkError, check_story_token
from bot.web.tables import DashboardUser
from bot.web.users import authenticate, session_fingerprint

bp = Blueprint("login", __name__)
OPEN_ENDPOINTS = {"login.login", "dashboard.static"}


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("dashboard/login.html", next_url=next_url, error=None)
    name = request.form.get("name", "").strip()
    settings = current_app.config["SETTINGS"]
    with get_db().transaction() as db_session:
        result = authenticate(db_session, name, request.form.get("password", ""), request.remote_addr or "-",
                              settings)
        user_id = result.user.id if result.user else None
        fingerprint = session_fingerprint(result.user) if result.user else None
    if result.locked_until is not None:
        minutes = max(1, round((result.locked_until - _now()).total_seconds() / 60))
        error = f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        return render_template("dashboard/login.html", next_url=next_url, error=error), 429
    if user_id is None:
        return render_template("dashboard/login.html", next_url=next_url,
                               error="Wrong name or password."), 401
    session.clear()  # a fresh session at login: nothing planted before it survives
    session.permanent = True
    session.update(uid=user_id, fp=fingerprint)
    return redirect(next_url or url_for("dashboard.sprint"))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("login.login"))


def _now():
    from bot.db import utcnow

    return utcnow()


def _safe_next(value: str | None) -> str | None:
    """Only a path on this site: `next=https://evil.example` or `//evil.example` must not redirect away."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value


def current_user() -> DashboardUser | None:
    """The logged-in user, if the session's user still exists with the password it logged in with."""
    if "user" not in g:
        g.user = None
        uid = session.get("uid")
        if uid is not None:
            with get_db().session_factory() as db_session:
                user = db_session.get(DashboardUser, uid)
            if user is not None and session.get("fp") == session_fingerprint(user):
                g.user = user
            else:
                session.clear()
    return g.user


def gate() -> ResponseReturnValue | None:
    """Before every dashboard request: CSRF on every POST, then a user, or a signed link to this one story."""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None
    g.link_only = False
    if current_app.config.get("BUDGETBOT_GENERATED_SECRET_KEY") and _live(current_app.config["SETTINGS"]):
        # A generated key differs per machine and cannot be rotated on purpose: fine for trying things, not live.
        abort(503, description="Set BUDGETBOT_SECRET_KEY (the same on every web process) to use the dashboard "
                               "with live integrations.")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if current_user() is not None:
        return None
    token = request.args.get("t")
    if token and request.endpoint == "dashboard.story" and request.method == "GET":
        try:
            check_story_token(current_app.config["SETTINGS"], token, (request.view_args or {}).get("key", "").upper())
        except LinkError as exc:
            g.link_error = exc
            abort(403, description=str(exc))
        g.link_only = True
        return None
    return redirect(url_for("login.login", next=request.full_path.rstrip("?")))


def _live(settings) -> bool:
    from bot.outbox import KNOWN_INTEGRATIONS, is_dry_run

    return any(not is_dry_run(settings, name) for name in KNOWN_INTEGRATIONS)


bp.before_request(gate)


def admin_required(view):
    """Admins only (a viewer, or a signed link, gets 403): the forms that change something."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = current_user()
        if user is None or user.role != "admin":
            abort(403, description="Only an admin can do this.")
        return view(*args, **kwargs)

    return wrapper


def init_app(app) -> None:
    settings = app.config["SETTINGS"]
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_SECURE", settings.public_url.startswith("https://"))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session; a form left open still works
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["current_user"] = current_user
    app.register_blueprint(bp)
