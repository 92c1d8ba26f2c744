"""The OpenAPI path items of what is not the JSON API: the dashboard pages (a browser session) and the
OpenTelemetry receiver (OTLP/HTTP, protobuf or JSON), so the document lists every route the app serves."""

from __future__ import annotations

HTML = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
SESSION: dict[str, list] = {"security": []}  # a logged-in browser session (or a signed story link), not a token
REDIRECT = {"302": {"description": "not logged in: to /login"}}
FORM = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}


def _path(name: str, kind: str = "string") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _page(summary: str, *parameters: dict) -> dict:
    return {"get": {**SESSION, "summary": summary, "parameters": list(parameters),
                    "responses": {"200": HTML, **REDIRECT}}}


def _form(summary: str, *parameters: dict) -> dict:
    return {"post": {**SESSION, "summary": summary + " (a form with its CSRF token; admins only)",
                     "parameters": list(parameters), "requestBody": FORM,
                     "responses": {"303": {"description": "done: back to the page"}, **REDIRECT,
                                   "400": {"description": "CSRF token missing or expired"},
                                   "403": {"description": "a viewer may not"}}}}


def page_paths(story_key: dict) -> dict:
    login = {"get": {**SESSION, "summary": "Login page", "responses": {"200": HTML}},
             "post": {**SESSION, "summary": "Log in (name, password, CSRF token); throttled", "requestBody": FORM,
                      "responses": {"303": {"description": "logged in"}, "200": HTML,
                                    "429": {"description": "too many failures"}}}}
    return {
        "/": _page("Sprint: burn-down, totals and the stories"),
        "/stories/{key}": _page("Story page (also opened by a signed link)", story_key),
        "/stories/{key}/approval": _form("Approve an overrun", story_key),
        "/spend": _page("Spend by agent, model, team, project or cost center"),
        "/spend.csv": {"get": {**SESSION, "summary": "The spend page's rows as CSV",
                               "responses": {"200": {"description": "CSV"}, **REDIRECT}}},
        "/alerts": _page("Anomaly alerts"),
        "/outbox": _page("Outbox: pending and dead rows"),
        "/outbox/{row_id}/retry": _form("Retry a dead outbox row", _path("row_id", "integer")),
        "/breakers": _form("Trip a kill switch"),
        "/breakers/{breaker_id}/clear": _form("Clear a kill switch", _path("breaker_id", "integer")),
        "/status": _page("Integrations, webhooks, the clock and the database"),
        "/login": login,
        "/logout": {"post": {**SESSION, "summary": "Log out", "requestBody": FORM,
                             "responses": {"303": {"description": "to /login"}}}},
        "/assets/{filename}": {"get": {**SESSION, "summary": "The dashboard's stylesheet", "parameters": [
            _path("filename")], "responses": {"200": {"description": "CSS"}, "404": {"description": "no such file"}}}},
    }


def otlp_paths() -> dict:
    body = {"required": True, "content": {"application/x-protobuf": {"schema": {"type": "string",
                                                                                "format": "binary"}},
                                          "application/json": {"schema": {"type": "object"}}}}
    answers = {"200": {"description": "accepted; partial success names what was rejected and why"},
               "400": {"description": "undecodable body"}, "401": {"description": "missing or invalid token"},
               "413": {"description": "body over the limit (also after gunzip)"},
               "415": {"description": "not protobuf or JSON"},
               "503": {"description": "database busy: retry after Retry-After"}}
    signal = {"logs": "log records (Claude Code, Codex CLI, Gemini CLI)", "traces": "spans (GenAI conventions)",
              "metrics": "metrics (accepted and dropped: aggregates of the same calls)"}
    return {f"/v1/{name}": {"post": {"summary": f"OTLP/HTTP export of {what}; see docs/agents.md",
                                     "requestBody": body, "responses": answers}}
            for name, what in signal.items()}
