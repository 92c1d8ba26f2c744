"""The one module that imports PyGithub: installation tokens from its public App auth, check runs on the HTTP base.

PyGithub mints the installation token (`GithubIntegration.get_access_token`, public); the check-run requests
go through the shared HTTP base, so their errors, rate limits and scrubbing are the same as Jira's and Slack's.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.integrations.http import HttpClient, Rejected, error_from_response
from bot.outbox import PermanentError

CHECK_RUNS = "/repos/{repo}/check-runs"
CHECK_RUN = "/repos/{repo}/check-runs/{run_id}"
TOKEN_REFRESH = timedelta(minutes=1)  # mint a new installation token this long before the old one expires

if TYPE_CHECKING:
    from github import GithubException


class GitHubConfigError(PermanentError):
    """The App's credentials are missing or unreadable; the message names the setting."""


class CheckRunGone(Rejected):
    """GitHub answered 404 to a PATCH of a check run we made: it was deleted (or is out of the App's reach)."""


def private_key(settings) -> str:
    """The App's PEM private key from BUDGETBOT_GITHUB_PRIVATE_KEY (escaped newlines allowed) or _PATH."""
    if settings.github_private_key is not None:
        return settings.github_private_key.get_secret_value().replace("\\n", "\n").strip() + "\n"
    if settings.github_private_key_path is not None:
        try:
            return Path(settings.github_private_key_path).read_text()
        except OSError as exc:
            raise GitHubConfigError(f"BUDGETBOT_GITHUB_PRIVATE_KEY_PATH: cannot read the key ({exc})") from None
    raise GitHubConfigError("set BUDGETBOT_GITHUB_PRIVATE_KEY or BUDGETBOT_GITHUB_PRIVATE_KEY_PATH")


def is_configured(settings) -> bool:
    """An App id and a private key: without them the GitHub sender runs in dry-run."""
    return bool(settings.github_app_id) and (settings.github_private_key is not None
                                             or settings.github_private_key_path is not None)


def in_use(settings) -> bool:
    """Whether GitHub is used at all: PRs can be tracked (a webhook secret: dry-run or not, the webhook is
    always signed) or checks sent (App credentials). With neither, no PR is learned and no check is posted,
    so a spend change looks none up (one query less on every ingest)."""
    return settings.github_webhook_secret is not None or is_configured(settings)


class GitHubClient(HttpClient):
    """GitHub's REST API as one installation, with the operations budgetbot needs."""

    service = "GitHub"
    rate_limit_scope = "integration"  # primary and secondary limits cover the whole installation

    def __init__(self, settings, installation_id: int, token: str) -> None:
        super().__init__(settings.github_api_url, settings.github_timeout_seconds, secrets=[token], headers={
            "Authorization": f"token {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "budgetbot"})
        self.installation_id, self.token = installation_id, token

    def create_check_run(self, repo: str, body: dict) -> dict:
        return self.call("POST", CHECK_RUNS.format(repo=repo), json=body) or {}

    def update_check_run(self, repo: str, run_id: int, body: dict) -> dict:
        path = CHECK_RUN.format(repo=repo, run_id=quote(str(run_id), safe=""))
        try:
            return self.call("PATCH", path, json=body) or {}
        except Rejected as exc:
            if exc.status != 404:
                raise
            raise CheckRunGone(f"GitHub 404 on PATCH {path}: check run {run_id} no longer exists (deleted on "
                               "GitHub, or the App lost access); it is forgotten, so the next update of this "
                               "commit creates a new run (re-run the check from the pull request to do it now)",
                               404) from None

    def detail(self, status: int, body: str) -> str:
        return _message(body)

    def hint(self, status: int, body: str) -> str | None:
        return hint(status, self.installation_id, body)


def hint(status: int, installation_id: int, body: str = "") -> str | None:
    """What a person should do about a GitHub error status."""
    if status == 401:
        return ("GitHub rejected the App's credentials: check BUDGETBOT_GITHUB_APP_ID and that the private key "
                "belongs to this App (and that this server's clock is right)")
    if status == 403:
        return ("the App lacks a permission: give it 'Checks: read and write' and have the installation owner "
                "accept the new permissions")
    if status == 404:
        return (f"not found: is the App still installed on this repository (installation {installation_id}), "
                "and is BUDGETBOT_GITHUB_API_URL right?")
    if status == 422:
        return "GitHub refused the check run as invalid; the commit may no longer exist"
    return None


def _message(body: str) -> str:
    """GitHub's `message` (and `errors`) from an error body."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return body[:200]
    if not isinstance(data, dict):
        return ""
    return str(data.get("message") or "") + (f" ({data['errors']})" if data.get("errors") else "")


# One token per installation, kept for the process and minted again shortly before it expires (tokens live
# an hour); one client per installation and token, so its HTTP connections are reused between sends.
_tokens: dict[tuple, tuple[str, datetime]] = {}
_clients: dict[tuple, GitHubClient] = {}
_lock = threading.Lock()


def client(settings, installation_id: int) -> GitHubClient:
    """A client acting as the installation (its token minted or reused)."""
    token = _token(settings, installation_id)
    key = (settings.github_api_url, settings.github_timeout_seconds, installation_id)
    with _lock:
        cached = _clients.get(key)
        if cached is None or cached.token != token:
            cached = _clients[key] = GitHubClient(settings, installation_id, token)
        return cached


def _token(settings, installation_id: int) -> str:
    # PyGithub (and the requests and cryptography it brings) is imported by the worker when it mints a token,
    # never at import: every process registers this integration, and `budgetbot status` must start fast.
    import requests
    from github import Auth, GithubException, GithubIntegration

    key_pem = private_key(settings)
    cache_key = (settings.github_api_url, settings.github_app_id, hashlib.sha256(key_pem.encode()).hexdigest(),
                 installation_id)
    with _lock:
        cached = _tokens.get(cache_key)
        if cached is not None and cached[1] - TOKEN_REFRESH > datetime.now(UTC):
            return cached[0]
        _check_key(key_pem)
        # retry=None: the outbox owns retries; no throttling sleeps inside the worker either.
        integration = GithubIntegration(auth=Auth.AppAuth(settings.github_app_id, key_pem),
                                        base_url=settings.github_api_url.rstrip("/"), retry=None,
                                        timeout=settings.github_timeout_seconds, user_agent="budgetbot",
                                        seconds_between_requests=None, seconds_between_writes=None)
        where = f"POST /app/installations/{installation_id}/access_tokens"
        try:
            granted = integration.get_access_token(installation_id)
        except GithubException as exc:
            raise _token_error(exc, installation_id, where) from None
        except requests.RequestException as exc:
            raise GitHubClient.unavailable(f"GitHub did not answer {where}: {type(exc).__name__}") from None
        expires = granted.expires_at or datetime.now(UTC) + timedelta(minutes=55)
        _tokens[cache_key] = (granted.token, expires if expires.tzinfo else expires.replace(tzinfo=UTC))
        return granted.token


def _token_error(exc: GithubException, installation_id: int, where: str) -> Exception:
    body = json.dumps(exc.data) if isinstance(exc.data, (dict, list)) else str(exc.data or "")
    return error_from_response(exc.status, exc.headers or {}, _message(body), service="GitHub", where=where,
                               hint=hint(exc.status, installation_id), rate_limit_scope="integration")


def _check_key(key_pem: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key  # see _token: loaded when used

    try:
        load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise GitHubConfigError("the GitHub App private key is not a valid unencrypted PEM key: paste the .pem "
                                "file GitHub generated (BUDGETBOT_GITHUB_PRIVATE_KEY or _PATH)") from None


def forget_clients() -> None:
    """Drop cached installation tokens (tests; a rotated key also gets a new cache entry by itself)."""
    with _lock:
        _tokens.clear()
        _clients.clear()
