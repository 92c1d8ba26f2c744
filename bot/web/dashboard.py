"""The dashboard behind a login: wires keys, login, pages, HTML error pages and the security headers."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from bot.web import login
from bot.web.dashboard_keys import secret_key
from bot.web.pages import actions, filters, ops, spend, sprint, story  # noqa: F401  (their routes join the blueprint)
from bot.web.pages.blueprint import bp as pages_bp

log = logging.getLogger(__name__)
# Machines read these paths: their errors stay JSON (see bot/__init__.py).
MACHINE_PREFIXES = ("/api/", "/webhooks/", "/healthz")
SECURITY_HEADERS = {
    # Nothing from another host, no inline script or style, never framed.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A signed story link carries its token in the URL: never hand it on to Jira or GitHub in a Referer.
    "Referrer-Policy": "no-referrer",
}


def wants_html() -> bool:
    if request.path.startswith(MACHINE_PREFIXES):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" or not request.accept_mimetypes.provided


def _error_page(exc: HTTPException):
    if not wants_html():
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
        response.status_code = exc.code or 500
        return response
    return render_template("dashboard/error.html", error=exc), exc.code or 500


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    with app.app_context():
        app.secret_key, generated = secret_key(settings)
    app.config["BUDGETBOT_GENERATED_SECRET_KEY"] = generated
    login.init_app(app)
    filters.init_app(app)
    app.register_blueprint(pages_bp)

    @app.after_request
    def security_headers(response):
        if response.mimetype == "text/html":
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    # Registered by code, these take precedence over the app's catch-all JSON HTTPException handler.
    for code in (400, 403, 404, 405, 429, 503):
        app.register_error_handler(code, _error_page)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        exc.description = "This form has expired or did not come from this site. Reload the page and try again."
        return _error_page(exc)
