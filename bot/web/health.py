"""GET /healthz: 200 when the database answers, 503 when it does not."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.db import get_db

bp = Blueprint("health", __name__)
# Components add details (outbox depth, ...) here: name -> function(session) -> JSON-able value.
DETAILS: dict = {}


@bp.get("/healthz")
def healthz():
    try:
        with get_db().session_factory() as session:
            session.execute(text("SELECT 1"))
            details = {name: probe(session) for name, probe in DETAILS.items()}
    except SQLAlchemyError as exc:
        response = jsonify(status="unavailable", database="unreachable", error=type(exc).__name__)
        response.status_code = 503
        return response
    return jsonify(status="ok", database="ok", **details)


def init_app(app) -> None:
    app.register_blueprint(bp)
