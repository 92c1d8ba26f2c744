"""The one module that imports PyGithub: GitHub App auth with cached installation tokens, and error mapping."""

from __future__ import annotations

import hashlib
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubException

from bot.outbox import PermanentError, RetryableError


class GitHubConfigError(PermanentError):
    """The App's credentials are missing or unreadable; the message names the setting."""


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


# One Github object per installation, kept for the process: its AppInstallationAuth holds the installation
# token and mints a new one only when it is about to expire (PyGithub refreshes 20 s before expiry).
_clients: dict[tuple, Github] = {}
_lock = threading.Lock()


def _client(settings, installation_id: int) -> Github:
    key_pem = private_key(settings)
    cache_key = (settings.github_api_url, settings.github_app_id, hashlib.sha256(key_pem.encode()).hexdigest(),
                 installation_id, settings.github_timeout_seconds)
    with _lock:
        client = _clients.get(cache_key)
        if client is None:
            _check_key(key_pem)
            auth = Auth.AppAuth(settings.github_app_id, key_pem).get_installation_auth(installation_id)
            # retry=None: the outbox owns retries and backoff; PyGithub's own GithubRetry would sleep inside
            # the worker and multiply attempts. No throttling sleeps either: coalescing keeps the volume low.
            client = Github(auth=auth, base_url=settings.github_api_url.rstrip("/"), retry=None,
                            timeout=settings.github_timeout_seconds, seconds_between_requests=None,
                            seconds_between_writes=None, user_agent="budgetbot")
            _clients[cache_key] = client
        return client


def _check_key(key_pem: str) -> None:
    try:
        load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise GitHubConfigError("the GitHub App private key is not a valid unencrypted PEM key: paste the .pem "
                                "file GitHub generated (BUDGETBOT_GITHUB_PRIVATE_KEY or _PATH)") from None


def forget_clients() -> None:
    """Drop cached clients and their tokens (tests; a rotated key also gets a new cache entry by itself)."""
    with _lock:
        _clients.clear()


def call(settings, installation_id: int, method: str, path: str, body: dict | None = None) -> dict:
    """Send one REST request as the installation; GitHub's answer as a dict, or Retryable/PermanentError."""
    try:
        client = _client(settings, installation_id)
        _headers, data = client.requester.requestJsonAndCheck(method, path, input=body)
    except GithubException as exc:
        raise map_error(exc, method, path, installation_id) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise RetryableError(f"GitHub unreachable ({type(exc).__name__}) on {method} {path}") from None
    return data or {}


def map_error(exc: GithubException, method: str, path: str, installation_id: int) -> Exception:
    """GitHub's answer -> what the outbox should do: retry (and when) or give up with an actionable message."""
    status = exc.status
    headers = {str(k).lower(): v for k, v in (exc.headers or {}).items()}
    message = (exc.data or {}).get("message") if isinstance(exc.data, dict) else None
    said = f"GitHub {status} on {method} {path}" + (f": {message}" if message else "")
    wait = retry_after(headers)
    rate_limited = status == 429 or (status == 403 and (
        wait is not None or headers.get("x-ratelimit-remaining") == "0" or "rate limit" in (message or "").lower()))
    if rate_limited:
        return _installation_wide(f"{said} (rate limited)", wait)
    if status >= 500:
        return RetryableError(said, retry_after=wait)
    if status == 401:
        return PermanentError(f"{said}. GitHub rejected the App's credentials: check BUDGETBOT_GITHUB_APP_ID and "
                              "that the private key belongs to this App (and that this server's clock is right)")
    if status == 403:
        return PermanentError(f"{said}. The App lacks a permission: give it 'Checks: read and write' and have "
                              "the installation owner accept the new permissions")
    if status == 404:
        return PermanentError(f"{said}. Not found: is the App still installed on this repository "
                              f"(installation {installation_id}), and is BUDGETBOT_GITHUB_API_URL right?")
    if status == 422:
        errors = (exc.data or {}).get("errors") if isinstance(exc.data, dict) else None
        return PermanentError(f"{said}. GitHub refused the check run as invalid"
                              + (f" ({errors})" if errors else "") + "; the commit may no longer exist")
    return PermanentError(said)


def _installation_wide(message: str, wait: float | None) -> RetryableError:
    """GitHub's rate limit covers the whole installation, not this one check: ask the outbox to hold back
    every GitHub row (scope="integration"), where the outbox supports scopes."""
    try:
        return RetryableError(message, retry_after=wait, scope="integration")
    except TypeError:  # an outbox without scopes: the wait then applies to this row only
        return RetryableError(message, retry_after=wait)


def retry_after(headers: dict) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or, when the quota is spent, x-ratelimit-reset."""
    raw = headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
        except ValueError:
            return None
    return None
