"""Kill switches over HTTP: GET, POST and DELETE /api/v1/breakers, with who tripped or cleared them and why."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.db import get_db
from bot.guardrails import breaker_store as store
from bot.web.auth import require_token
from bot.web.json_io import error, json_body

bp = Blueprint("breakers", __name__, url_prefix="/api/v1")


class BreakerIn(BaseModel):
    """Body of POST /api/v1/breakers: trip a kill switch; preflight blocks what it covers until cleared."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    scope: str = Field(description="all | agent | story | run", examples=["agent"])
    target: str | None = Field(default=None, max_length=200, description="agent name, story key or run id",
                               examples=["coder"])
    reason: str = Field(min_length=1, max_length=2000, examples=["looping on PROJ-9"])
    by: str | None = Field(default=None, max_length=200, description="who; default: the API token's name",
                           examples=["alice"])


def _who(given: str | None) -> str | None:
    return given or getattr(g, "api_token_name", None)


@bp.get("/breakers")
@require_token
def list_breakers():
    raw = request.args.get("all", "false").lower()
    if raw not in ("true", "false"):
        return error(400, "invalid_parameter", "all must be true or false",
                     errors=[{"path": "all", "message": "not a boolean"}])
    include_cleared = raw == "true"
    with get_db().read() as session:
        rows = store.listing(session, include_cleared)
        return jsonify(breakers=[store.as_json(b) for b in rows])


@bp.post("/breakers")
@require_token
def trip_breaker():
    try:
        body = BreakerIn.model_validate(json_body())
    except ValidationError as exc:
        return error(400, "invalid_breaker", "fix these fields",
                     errors=[{"path": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                             for e in exc.errors()])
    try:
        with get_db().transaction() as session:
            tripped = store.trip(session, body.scope, body.target, body.reason, _who(body.by))
            answer = store.as_json(tripped.breaker)
    except store.BreakerError as exc:
        return error(400, "invalid_breaker", str(exc), errors=[{"path": exc.field, "message": str(exc)}])
    response = jsonify(breaker=answer, created=tripped.created)
    response.status_code = 201 if tripped.created else 200
    return response


MAX_ID = 2**31 - 1  # breakers.id is an INTEGER


@bp.delete("/breakers/<int:breaker_id>")
@require_token
def clear_breaker(breaker_id: int):
    if breaker_id > MAX_ID:  # past the id column: no such breaker, not a database error
        return error(404, "no_such_breaker", f"no breaker {breaker_id}")
    try:
        with get_db().transaction() as session:
            breaker = store.clear_by_id(session, breaker_id, _who(request.args.get("by")))
            answer = store.as_json(breaker)
    except store.BreakerError as exc:
        return error(404, "no_such_breaker", str(exc))
    return jsonify(breaker=answer)
