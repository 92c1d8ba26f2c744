"""The one module that imports the `jira` library: a thin client for Jira Cloud (API v3) or Data Center (v2)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import jira  # the PyPI library: absolute import, not this package (bot.jira)
import requests
from jira.exceptions import JIRAError

from bot.outbox import PermanentError, RetryableError, SendContext, retry_after_from

log = logging.getLogger(__name__)

# Statuses worth trying again later; everything else 4xx is a configuration problem a person must fix.
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
HINTS = {
    401: "check BUDGETBOT_JIRA_EMAIL + BUDGETBOT_JIRA_API_TOKEN (Cloud) or BUDGETBOT_JIRA_PERSONAL_ACCESS_TOKEN "
         "(Data Center)",
    403: "the budgetbot user lacks a permission here; run `budgetbot jira check`",
    404: "not found, or not visible to the budgetbot user",
}


class JiraUnavailable(RetryableError):
    """Jira answered 429/5xx or did not answer: the outbox retries the row (after Retry-After, if given)."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.reason = reason  # RateLimit-Reason: which of Jira's limits was hit


class JiraRejected(PermanentError):
    """Jira refused the request (400/401/403/404...): retrying cannot help; the message says what to fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


class JiraClient:
    """Jira over HTTP. Reads go out always; writes go through `write`, which only records them in dry-run."""

    def __init__(self, settings, timeout: float | None = None) -> None:
        self.base = (settings.jira_url or "").rstrip("/")
        self.configured = is_configured(settings)
        # Data Center (a personal access token and no Cloud credentials) speaks v2 with wiki markup;
        # Cloud, and an unconfigured dry-run, speak v3 with ADF.
        cloud_credentials = bool(settings.jira_email and settings.jira_api_token)
        self.cloud = cloud_credentials or settings.jira_personal_access_token is None
        self.api = "/rest/api/3" if self.cloud else "/rest/api/2"
        auth: dict[str, Any] = {}
        if cloud_credentials:
            auth["basic_auth"] = (settings.jira_email, settings.jira_api_token.get_secret_value())
        elif settings.jira_personal_access_token:
            auth["token_auth"] = settings.jira_personal_access_token.get_secret_value()
        # max_retries=0: ResilientSession would otherwise sleep and retry 429/503 itself (up to 3 times, up to
        # 60 s each) inside the outbox's own retry loop, multiplying attempts and blocking the worker.
        # get_server_info=False: no hidden GET /serverInfo when the client is built.
        self._jira = jira.JIRA(server=self.base or "http://jira.invalid", options={
            "rest_api_version": self.api.rsplit("/", 1)[1], "check_update": False},
            get_server_info=False, max_retries=0, timeout=timeout or settings.jira_timeout, **auth)

    def url(self, path: str) -> str:
        return f"{self.base or '${BUDGETBOT_JIRA_URL}'}{path}"

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        """Send one request; returns the decoded JSON (None when empty). Raises JiraUnavailable/JiraRejected."""
        if not self.configured:
            raise JiraRejected("Jira is not configured: set BUDGETBOT_JIRA_URL and BUDGETBOT_JIRA_EMAIL + "
                               "BUDGETBOT_JIRA_API_TOKEN (Cloud) or BUDGETBOT_JIRA_PERSONAL_ACCESS_TOKEN")
        where = f"{method} {path}"
        try:
            response = self._jira._session.request(method, self.url(path), json=json, params=params)
        except JIRAError as exc:
            raise _error(where, exc.response) from None
        except requests.RequestException as exc:
            raise JiraUnavailable(f"Jira did not answer {where}: {type(exc).__name__}") from None
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def write(self, ctx: SendContext, method: str, path: str, json: Any = None) -> Any:
        """A request that changes Jira: sent, or in dry-run recorded on the outbox row exactly as it would go."""
        if ctx.dry_run:
            ctx.record(method, self.url(path), json)
            return None
        return self.request(method, path, json=json)


def _error(where: str, response: requests.Response | None) -> Exception:
    if response is None:
        return JiraUnavailable(f"Jira gave no response to {where}")
    status = response.status_code
    if status in RETRYABLE:
        retry_after = retry_after_from(status, response.headers)
        reason = response.headers.get("RateLimit-Reason")
        message = f"Jira answered {status} to {where}"
        if reason:
            message += f" (limit: {reason})"
        if retry_after is not None:
            message += f"; retry after {retry_after:g} s"
        return JiraUnavailable(message, retry_after=retry_after, status=status, reason=reason)
    detail = "; ".join(error_messages(response)) or response.reason or "no detail"
    hint = HINTS.get(status)
    return JiraRejected(f"Jira answered {status} to {where}: {detail}" + (f" ({hint})" if hint else ""), status)


def error_messages(response: requests.Response) -> list[str]:
    """Jira's `errorMessages` and per-field `errors`, as sentences a person can act on."""
    try:
        body = response.json()
    except ValueError:
        return [response.text[:200]] if response.text else []
    if not isinstance(body, dict):
        return []
    messages = [str(m) for m in body.get("errorMessages") or []]
    messages += [f"{field}: {text}" for field, text in (body.get("errors") or {}).items()]
    return messages

