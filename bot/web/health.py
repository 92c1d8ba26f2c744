"""GET /healthz: 200 when the database answers, 503 when it does not."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.components import registry
from bot.db import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        with get_db().read() as session:
            # Each component's detail (outbox depth, the clock's holder, ...), registered on the app; their
            # queries prove the database answers, so "SELECT 1" only when there are none.
            probes = registry().health
            details = {name: probe(session) for name, probe in probes.items()}
            if not probes:
                session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        response = jsonify(status="unavailable", database="unreachable", error=type(exc).__name__)
        response.status_code = 503
        return response
    return jsonify(status="ok", database="ok", **details)
