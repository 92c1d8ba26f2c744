"""The app factory: `create_app` is the one place the core services and the components are wired."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot import app_pricer, db
from bot.components import REGISTRY_KEY, Registry, load_components
from bot.config import Settings, load_settings


def create_app(config: dict | Settings | None = None) -> Flask:
    """Build the app. `config` overrides environment settings (tests pass a dict or a Settings)."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    app = Flask(__name__, template_folder="../templates")
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    if isinstance(app.json, DefaultJSONProvider):  # always, as Flask.json_provider_class is left alone
        app.json.sort_keys = False
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    registry = Registry()
    app.extensions[REGISTRY_KEY] = registry
    # The core services every component uses: the database (whose sessions carry the app's event bus) and the
    # one pricer with its rate cache.
    db.init_app(app, registry)
    app_pricer.init_app(app)
    for component in load_components():
        if component.init_app is not None:
            component.init_app(app, registry)
    _json_errors(app)
    return app


def _json_errors(app: Flask) -> None:
    """Every error is JSON: agents and webhooks parse answers, and an HTML page would leak internals."""

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        limit = app.config["MAX_CONTENT_LENGTH"]
        response = jsonify(error="body_too_large", message=f"request body over {_size(limit)}; split the batch")
        response.status_code = 413
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        response = jsonify(error="internal_error", message="internal error; see the server log")
        response.status_code = 500
        return response


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit:,} bytes"
