"""The guardrail paths of the OpenAPI document (preflight, breakers), with examples; openapi.py merges them in."""

from __future__ import annotations

from bot.guardrails.breakers_api import BreakerIn
from bot.guardrails.shapes import PreflightIn

_ERROR = {"description": "JSON error with `error`, `message` and `errors[].path`"}

PREFLIGHT_EXAMPLE = {"story": "PROJ-123", "agent": "coder", "run_id": "r-7", "model": "claude-sonnet-4-5",
                     "estimated_tokens": 4000, "estimated_usd": "0.05"}
ANSWER_EXAMPLE = {
    "decision": "warn",
    "reasons": [{"code": "run_tokens", "check": "run_tokens", "decision": "warn", "limit": 50000, "figure": 48200,
                 "unit": "tokens", "message": "run r-7 used 48,200 of 50,000 tokens"}],
    "story_status": "ok",
    "remaining": {"story": {"tokens": 151800, "usd": "3.2"}, "run": {"tokens": 1800, "usd": None},
                  "day": {"tokens": None, "usd": "12.5"}, "month": {"usd": "412.75"}},
    "reservation_id": "5f0c3a9e2b7d4c1f8a6e0d2b9c4f7a13",
    "reservation_expires_at": "2026-12-01T10:02:00Z",
}
BLOCK_EXAMPLE = {
    "decision": "block",
    "reasons": [{"code": "kill_switch", "check": "kill_switch", "decision": "block", "limit": None, "figure": None,
                 "unit": None, "message": "kill switch on agent coder: looping on PROJ-9 (by alice)"}],
    "story_status": "warning",
    "remaining": {"story": {"tokens": 900, "usd": None}, "run": {"tokens": None, "usd": None},
                  "day": {"tokens": None, "usd": None}, "month": {"usd": None}},
    "reservation_id": None, "reservation_expires_at": None,
}
BREAKER_EXAMPLE = {"id": 4, "scope": "agent", "target": "coder", "label": "agent coder", "reason": "looping on PROJ-9",
                   "tripped_by": "alice", "tripped_at": "2026-12-01T09:58:00Z", "cleared_at": None,
                   "cleared_by": None, "active": True}


def _json(schema: dict, **examples: dict) -> dict:
    content: dict = {"schema": schema}
    if examples:
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"application/json": content}


def guardrail_paths() -> dict:
    """Path items of POST /preflight and GET/POST/DELETE /breakers."""
    breaker_answer = {"type": "object", "properties": {"breaker": {"type": "object"}, "created": {"type": "boolean"}}}
    return {
        "/api/v1/preflight": {"post": {
            "summary": "Ask before a model call: allow, warn or block, with reasons; an estimate is reserved",
            "description": "Judges kill switches, the story budget (and status: overridden is honoured, unpriced "
                           "warns), run caps, agent and organisation daily caps and the monthly budget of the "
                           "policy file. With `estimated_tokens`/`estimated_usd`, an allowed call reserves that "
                           "headroom until the usage event carrying `reservation_id` settles it, or it expires. "
                           "Every block is recorded.",
            "requestBody": {"required": True, "content": _json(PreflightIn.model_json_schema(),
                                                               call=PREFLIGHT_EXAMPLE)},
            "responses": {"200": {"description": "The decision, each reason (code, limit, figure, message), what "
                                                 "is left, the story status and the reservation",
                                  "content": _json({"type": "object"}, warn=ANSWER_EXAMPLE, block=BLOCK_EXAMPLE)},
                          "400": _ERROR, "401": _ERROR}}},
        "/api/v1/preflight/reservations/{reservation_id}": {"delete": {
            "summary": "Release a reservation: the announced call was not made",
            "parameters": [{"name": "reservation_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "Released", "content": _json({"type": "object"}, released={
                "released": "5f0c3a9e2b7d4c1f8a6e0d2b9c4f7a13"})}, "401": _ERROR, "404": _ERROR}}},
        "/api/v1/breakers": {
            "get": {"summary": "Tripped kill switches (`?all=true`: cleared ones too)",
                    "parameters": [{"name": "all", "in": "query", "schema": {"type": "boolean"}}],
                    "responses": {"200": {"description": "Breakers", "content": _json(
                        {"type": "object"}, listing={"breakers": [BREAKER_EXAMPLE]})}, "401": _ERROR}},
            "post": {"summary": "Trip a kill switch (the same scope and target again is the same breaker)",
                     "requestBody": {"required": True, "content": _json(BreakerIn.model_json_schema(), trip={
                         "scope": "agent", "target": "coder", "reason": "looping on PROJ-9", "by": "alice"})},
                     "responses": {"201": {"description": "Tripped", "content": _json(
                         breaker_answer, tripped={"breaker": BREAKER_EXAMPLE, "created": True})},
                         "200": {"description": "Was already tripped: that breaker, unchanged"},
                         "400": _ERROR, "401": _ERROR}}},
        "/api/v1/breakers/{breaker_id}": {"delete": {
            "summary": "Clear a kill switch (`?by=` records who; clearing twice changes nothing)",
            "parameters": [{"name": "breaker_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 1}},
                           {"name": "by", "in": "query", "schema": {"type": "string"}, "example": "bob"}],
            "responses": {"200": {"description": "The breaker, cleared", "content": _json(breaker_answer, cleared={
                "breaker": {**BREAKER_EXAMPLE, "cleared_at": "2026-12-01T10:30:00Z", "cleared_by": "bob",
                            "active": False}})}, "401": _ERROR, "404": _ERROR}}},
    }
