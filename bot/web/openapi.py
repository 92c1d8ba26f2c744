"""The OpenAPI 3.1 document of the HTTP API, generated from the pydantic models that validate requests."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from bot.ledger.usage_shapes import UsageBatchIn, UsageEventIn


class BudgetIn(BaseModel):
    """Body of PUT /stories/{key}/budget. A part left out is kept; a part set to null is cleared."""

    model_config = ConfigDict(extra="forbid")

    tokens: int | str | None = Field(default=None, description="200000, '200k', '1.5M' or '200,000'")
    usd: float | str | None = Field(default=None, description="5, '5' or '$5.00'")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict:
    return {str(code): {"description": "JSON error with `error`, `message` and `errors[].path`"} for code in codes}


@cache
def openapi_document() -> dict:
    from bot.guardrails.openapi_paths import guardrail_paths  # late: guardrails import bot.web.api, which imports us

    _, schemas = models_json_schema(
        [(UsageEventIn, "validation"), (UsageBatchIn, "validation"), (BudgetIn, "validation")],
        ref_template="#/components/schemas/{model}")
    key = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}, "example": "PROJ-123"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "budgetbot", "version": "1"},
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/usage": {"post": {
                "summary": "Record model calls (one event or a batch of up to 1,000)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [_ref("UsageEventIn"), _ref("UsageBatchIn")]}}}},
                "responses": {"200": {"description": "Per event accepted/duplicate, cost, story status"},
                              **_errors(400, 401, 409, 413)}}},
            "/api/v1/stories": {"get": {
                "summary": "List stories with budget, spend and status",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": [
                    "no_budget", "ok", "warning", "over", "overridden"]}},
                    {"name": "project", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Stories"}, **_errors(400, 401)}}},
            "/api/v1/stories/{key}": {"get": {
                "summary": "Budget, spend, status and breakdown of one story", "parameters": [key],
                "responses": {"200": {"description": "Story"}, **_errors(400, 401, 404)}}},
            "/api/v1/stories/{key}/budget": {"put": {
                "summary": "Set a story's token and/or USD budget", "parameters": [key],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BudgetIn")}}},
                "responses": {"200": {"description": "Story after the change"}, **_errors(400, 401)}}},
            **guardrail_paths(),
        },
    }
