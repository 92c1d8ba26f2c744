"""The OpenAPI 3.1 document of every HTTP route, generated from the pydantic models that validate requests.

It states what the API enforces (tests/test_openapi_fuzz.py runs schemathesis against it, negative data
included): request bodies come from the validating models, story keys have their pattern, a budget needs
`tokens` or `usd`, `status` is an enum, and webhooks name the headers their signatures need.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from bot.ledger.budgets import Status
from bot.ledger.usage_shapes import UsageBatchIn, UsageEventIn

# As normalize_key accepts it: case-insensitive, upper-cased when stored.
STORY_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,30}-[1-9][0-9]{0,9}$"


class BudgetIn(BaseModel):
    """Body of PUT /stories/{key}/budget. A part left out is kept; a part set to null is cleared."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "minProperties": 1, "anyOf": [{"required": ["tokens"]}, {"required": ["usd"]}]})

    tokens: int | str | None = Field(default=None, description="200000, '200k', '1.5M' or '200,000'")
    usd: float | str | None = Field(default=None, description="5, '5' or '$5.00'")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict:
    return {str(code): {"description": "JSON error with `error`, `message` and `errors[].path`"} for code in codes}


WHO_AND_WHY = {"type": "object", "required": ["by", "reason"], "additionalProperties": False, "properties": {
    "by": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
    "reason": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}}}


def _json(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _header(name: str, description: str, max_length: int | None = None) -> dict:
    schema: dict = {"type": "string", "minLength": 1}
    if max_length:
        schema["maxLength"] = max_length
    return {"name": name, "in": "header", "required": True, "description": description, "schema": schema}


def _webhooks() -> dict:
    open_route: dict[str, list] = {"security": []}  # signed with the webhook secret, not a bearer token
    github = {"post": {**open_route, "summary": "GitHub App webhook (see docs/github.md)",
                       "parameters": [_header("X-GitHub-Event", "event name", 100),
                                      _header("X-GitHub-Delivery", "delivery id (deduplicated)", 100),
                                      _header("X-Hub-Signature-256", "sha256=<HMAC of the raw body>")],
                       "requestBody": _json({"type": "object"}),
                       "responses": {"200": {"description": "processed, duplicate or ignored"},
                                     "202": {"description": "an event budgetbot does not expect (logged)"},
                                     **_errors(400, 401, 413, 503)}}}
    jira = {"post": {**open_route, "summary": "Jira webhook (see docs/jira.md)",
                     "parameters": [_header("X-Hub-Signature", "sha256=<HMAC of the raw body>")],
                     "requestBody": _json({"type": "object", "required": ["webhookEvent"],
                                           "properties": {"webhookEvent": {"type": "string", "minLength": 1}}}),
                     "responses": {"200": {"description": "processed, duplicate or ignored"},
                                   "202": {"description": "an event budgetbot does not expect (logged)"},
                                   **_errors(400, 401, 413)}}}
    return {"/webhooks/github": github, "/webhooks/jira": jira}


@cache
def openapi_document() -> dict:
    from bot.guardrails.openapi_paths import guardrail_paths  # the preflight and breaker paths, with examples
    from bot.web.openapi_pages import otlp_paths, page_paths

    _, schemas = models_json_schema(
        [(UsageEventIn, "validation"), (UsageBatchIn, "validation"), (BudgetIn, "validation")],
        ref_template="#/components/schemas/{model}")
    key = {"name": "key", "in": "path", "required": True, "example": "PROJ-123",
           "schema": {"type": "string", "pattern": STORY_KEY_PATTERN}}
    statuses = [status.value for status in Status]
    public: dict[str, list] = {"security": []}
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
                "requestBody": _json({"oneOf": [_ref("UsageEventIn"), _ref("UsageBatchIn")]}),
                "responses": {"200": {"description": "Per event accepted/duplicate, cost, story status"},
                              **_errors(400, 401, 409, 413)}}},
            "/api/v1/stories": {"get": {
                "summary": "List stories with budget, spend and status",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": statuses}},
                               {"name": "project", "in": "query", "schema": {"type": "string", "maxLength": 32}}],
                "responses": {"200": {"description": "Stories"}, **_errors(400, 401)}}},
            "/api/v1/stories/{key}": {"put": {
                "summary": "Set what Jira would (summary, sprint, points, assignee, resolved); Jira's next update wins",
                "parameters": [key], "requestBody": _json({"type": "object", "minProperties": 1}),
                "responses": {"200": {"description": "Story after the change"}, **_errors(400, 401)}}, "get": {
                "summary": "Budget, spend, status and breakdown of one story", "parameters": [key],
                "responses": {"200": {"description": "Story"}, **_errors(400, 401, 404)}}},
            "/api/v1/stories/{key}/budget": {"put": {
                "summary": "Set a story's token and/or USD budget (at least one of them)", "parameters": [key],
                "requestBody": _json(_ref("BudgetIn")),
                "responses": {"200": {"description": "Story after the change"}, **_errors(400, 401, 413)}}},
            "/api/v1/stories/{key}/approval": {
                "post": {"summary": "Approve a story's overrun: it is `overridden`, not `over` (who and why kept)",
                         "parameters": [key], "requestBody": _json(WHO_AND_WHY),
                         "responses": {"200": {"description": "Story after the approval"}, **_errors(400, 401)}},
                "delete": {"summary": "Revoke the standing approval of a story's overrun", "parameters": [key],
                           "requestBody": _json(WHO_AND_WHY),
                           "responses": {"200": {"description": "Story after the revocation"},
                                         **_errors(400, 401, 404)}}},
            "/api/v1/events/{event_id}/void": {"post": {
                "summary": "Void a wrong usage event: a correction every total, rollup and report honours",
                "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": _json(WHO_AND_WHY),
                "responses": {"200": {"description": "The void, and the story after it"},
                              **_errors(400, 401, 404, 409)}}},
            "/api/v1/openapi.json": {"get": {**public, "summary": "This document",
                                             "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/healthz": {"get": {**public, "summary": "200 when the database answers",
                                 "responses": {"200": {"description": "ok"},
                                               "503": {"description": "database unreachable"}}}},
            **_webhooks(),
            **guardrail_paths(),
            **otlp_paths(),
            **page_paths(key),
        },
    }
