"""The one module that talks to Jira: Cloud (API v3, ADF) or Data Center (v2, wiki markup), on the HTTP base.

Plain requests with Jira's own auth (Basic email + API token on Cloud, a bearer personal access token on
Data Center): the `jira` library's public API cannot send what budgetbot sends (comments with properties,
`update.labels`, the v3 search), and using its private session was the worst of both.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any
from urllib.parse import quote

from bot.integrations.http import HttpClient, Rejected, Unavailable
from bot.outbox import SendContext

HINTS = {
    401: "check BUDGETBOT_JIRA_EMAIL + BUDGETBOT_JIRA_API_TOKEN (Cloud) or BUDGETBOT_JIRA_PERSONAL_ACCESS_TOKEN "
         "(Data Center)",
    403: "the budgetbot user lacks a permission here; run `budgetbot jira check`",
    404: "not found, or not visible to the budgetbot user",
}
# URL templates: `{api}` is /rest/api/3 (Cloud) or /rest/api/2 (Data Center).
FIELDS = "{api}/field"
ISSUE = "{api}/issue/{key}"
COMMENTS = "{api}/issue/{key}/comment"
COMMENT = "{api}/issue/{key}/comment/{id}"
TRANSITIONS = "{api}/issue/{key}/transitions"
EDITMETA = "{api}/issue/{key}/editmeta"
MYSELF = "{api}/myself"
MY_PERMISSIONS = "{api}/mypermissions"
USER = "{api}/user"
SEARCH_CLOUD = "{api}/search/jql"  # paged by nextPageToken; the old /search is gone on Cloud
SEARCH_DATA_CENTER = "{api}/search"  # paged by startAt
BOARDS = "/rest/agile/1.0/board"
SPRINTS = "/rest/agile/1.0/board/{board}/sprint"


class JiraUnavailable(Unavailable):
    """Jira answered 429/5xx or did not answer: the outbox retries the row (after Retry-After, if given)."""


class JiraRejected(Rejected):
    """Jira refused the request (400/401/403/404...): retrying cannot help; the message says what to fix."""


def is_configured(settings) -> bool:
    """Credentials present: Cloud (email + API token) or Data Center (personal access token)."""
    cloud = bool(settings.jira_email and settings.jira_api_token)
    return bool(settings.jira_url) and (cloud or settings.jira_personal_access_token is not None)


_clients: dict[tuple, JiraClient] = {}
_clients_lock = threading.Lock()


def client_for(settings, timeout: float | None = None) -> JiraClient:
    """A client per site, credentials and timeout, kept so its HTTP connections are reused between sends."""
    secrets = tuple(s.get_secret_value() if s is not None else None
                    for s in (settings.jira_api_token, settings.jira_personal_access_token))
    key = (settings.jira_url, settings.jira_email, secrets, timeout or settings.jira_timeout)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = JiraClient(settings, timeout)
        return _clients[key]


def forget_clients() -> None:
    with _clients_lock:
        _clients.clear()


class JiraClient(HttpClient):
    """Jira's REST API as named operations. Reads go out always; writes take the SendContext and are only
    recorded in dry-run."""

    service = "Jira"
    unavailable = JiraUnavailable
    rejected = JiraRejected

    def __init__(self, settings, timeout: float | None = None) -> None:
        self.configured = is_configured(settings)
        # Data Center (a personal access token and no Cloud credentials) speaks v2 with wiki markup;
        # Cloud, and an unconfigured dry-run, speak v3 with ADF.
        cloud_credentials = bool(settings.jira_email and settings.jira_api_token)
        self.cloud = cloud_credentials or settings.jira_personal_access_token is None
        self.api = "/rest/api/3" if self.cloud else "/rest/api/2"
        auth, headers, secrets = None, {"Accept": "application/json"}, []
        if cloud_credentials:
            token = settings.jira_api_token.get_secret_value()
            auth = (settings.jira_email, token)
            pair = f"{settings.jira_email}:{token}"
            secrets += [token, pair, base64.b64encode(pair.encode()).decode()]
        elif settings.jira_personal_access_token:
            token = settings.jira_personal_access_token.get_secret_value()
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        super().__init__((settings.jira_url or "").rstrip("/"), timeout or settings.jira_timeout, auth=auth,
                         headers=headers, secrets=secrets)
        self.base = self.base_url

    def url(self, path: str) -> str:
        return f"{self.base or '${BUDGETBOT_JIRA_URL}'}{path}"

    def path(self, template: str, **values: Any) -> str:
        return template.format(api=self.api, **{k: quote(str(v), safe="") for k, v in values.items()})

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        """Send one request; returns the decoded JSON (None when empty). Raises JiraUnavailable/JiraRejected."""
        if not self.configured:
            raise JiraRejected("Jira is not configured: set BUDGETBOT_JIRA_URL and BUDGETBOT_JIRA_EMAIL + "
                               "BUDGETBOT_JIRA_API_TOKEN (Cloud) or BUDGETBOT_JIRA_PERSONAL_ACCESS_TOKEN")
        return self.call(method, path, json=json, params=params)

    def write(self, ctx: SendContext, method: str, path: str, json: Any = None) -> Any:
        """A request that changes Jira: sent, or in dry-run recorded on the outbox row exactly as it would go."""
        if ctx.dry_run:
            ctx.record(method, self.url(path), json)
            return None
        return self.request(method, path, json=json)

    def detail(self, status: int, body: str) -> str:
        """Jira's `errorMessages` and per-field `errors`, as sentences a person can act on."""
        return "; ".join(error_messages(body))

    def hint(self, status: int, body: str) -> str | None:
        return HINTS.get(status)

    # --- reads ---
    def fields(self) -> list[dict]:
        return self.request("GET", self.path(FIELDS)) or []

    def comments(self, key: str) -> dict:
        return self.request("GET", self.path(COMMENTS, key=key),
                            params={"orderBy": "-created", "maxResults": 100, "expand": "properties"}) or {}

    def transitions(self, key: str) -> list[dict]:
        return (self.request("GET", self.path(TRANSITIONS, key=key)) or {}).get("transitions") or []

    def status_of(self, key: str) -> str:
        issue = self.request("GET", self.path(ISSUE, key=key), params={"fields": "status"}) or {}
        return ((issue.get("fields") or {}).get("status") or {}).get("name", "?")

    def search(self, body: dict) -> dict:
        return self.request("POST", self.path(SEARCH_CLOUD if self.cloud else SEARCH_DATA_CENTER), json=body) or {}

    def boards(self, params: dict) -> dict:
        return self.request("GET", BOARDS, params=params) or {}

    def sprints(self, board: int, params: dict) -> dict:
        return self.request("GET", self.path(SPRINTS, board=board), params=params) or {}

    # --- writes (recorded in dry-run) ---
    def edit_issue(self, ctx: SendContext, key: str, body: dict) -> None:
        self.write(ctx, "PUT", self.path(ISSUE, key=key), body)

    def add_comment(self, ctx: SendContext, key: str, body: dict) -> Any:
        return self.write(ctx, "POST", self.path(COMMENTS, key=key), body)

    def update_comment(self, ctx: SendContext, key: str, comment_id: str, body: dict) -> Any:
        return self.write(ctx, "PUT", self.path(COMMENT, key=key, id=comment_id), body)

    def transition(self, ctx: SendContext, key: str, transition_id: str) -> None:
        self.write(ctx, "POST", self.path(TRANSITIONS, key=key), {"transition": {"id": transition_id}})


def error_messages(body: str) -> list[str]:
    """Jira's `errorMessages` and per-field `errors` from an error body (its start, when it is not JSON)."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return [body[:200]] if body else []
    if not isinstance(parsed, dict):
        return []
    messages = [str(m) for m in parsed.get("errorMessages") or []]
    messages += [f"{field}: {text}" for field, text in (parsed.get("errors") or {}).items()]
    return messages
