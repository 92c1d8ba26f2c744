"""Helpers of the GitHub tests: a throwaway App key, signed deliveries of the recorded payloads, a fake API."""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import json
import re
from datetime import UTC, datetime, timedelta

import responses
from conftest import load_fixture
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.db import get_db, utcnow
from bot.outbox.worker import run_once

SECRET = "test-webhook-secret"
API = "https://github.test/api/v3"
APP_ID = 29310
REPO = "Codertocat/Hello-World"
REPO_ID = 186853002
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
_deliveries = itertools.count(1)
_updated = itertools.count(1)


def fixture(name: str) -> dict:
    """A recorded GitHub payload from tests/fixtures/github (a fresh copy each time)."""
    return load_fixture(f"github/{name}.json")


@functools.cache
def app_key() -> tuple[str, object]:
    """A throwaway RSA key for the GitHub App: (private PEM, public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def github_settings(db_url: str, **extra) -> dict:
    return {"database_url": db_url, "github_webhook_secret": SECRET, "github_app_id": APP_ID,
            "github_private_key": app_key()[0], "github_api_url": API, "jira_projects": ["PROJ"],
            "public_url": "https://budgetbot.test", **extra}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(client, event: str, payload: dict, *, delivery: str | None = None, secret: str | None = SECRET,
            signature: str | None = None):
    """POST a payload the way GitHub does: raw JSON body, signed, with event and delivery headers."""
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or f"delivery-{next(_deliveries)}",
               "Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return client.post("/webhooks/github", data=body, headers=headers)


def pr_event(action: str, *, title: str | None = None, body: object = "keep", number: int = 2, sha: str = SHA,
             ref: str | None = None, labels: list[str] | None = None, label: str | None = None,
             state: str | None = None) -> dict:
    """The recorded pull_request payload for `action` (or opened's, re-labelled), with the given changes.
    Each call is newer than the last, as real deliveries are."""
    recorded = {"opened", "reopened", "synchronize", "closed", "labeled", "unlabeled", "assigned"}
    payload = fixture(f"pull_request__{action if action in recorded else 'opened'}")
    payload["action"] = action
    pr = payload["pull_request"]
    payload["number"] = pr["number"] = number
    pr["head"]["sha"] = sha
    if title is not None:
        pr["title"] = title
    if body != "keep":
        pr["body"] = body
    if ref is not None:
        pr["head"]["ref"] = ref
    if labels is not None:
        pr["labels"] = [{"name": name} for name in labels]
    if label is not None:
        payload["label"] = {"name": label}
    if state is not None:
        pr["state"] = state
    pr["updated_at"] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_updated))).isoformat()
    return payload


def drain(app, seconds: float = 60) -> int:
    """Run the outbox worker once, `seconds` from now (past the refresh delay of spend-driven updates)."""
    return run_once(get_db(app), app.config["SETTINGS"], now=utcnow() + timedelta(seconds=seconds))


def usage(client, auth, key: str, *, tokens: int, usd: str, n: int = 1, model: str = "claude-sonnet-4",
          agent: str = "claude-code", prefix: str = "e") -> None:
    """Record `n` events on `key` totalling `tokens` tokens and `usd` dollars (client-priced, exact)."""
    from decimal import Decimal

    per_tokens, per_usd = tokens // n, Decimal(usd) / n
    for first in range(0, n, 500):
        events = [{"event_id": f"{prefix}-{key}-{i}", "story": key, "model": model, "agent": agent,
                   "input_tokens": per_tokens, "output_tokens": 0, "cost_usd": str(per_usd)}
                  for i in range(first, min(n, first + 500))]
        response = client.post("/api/v1/usage", json={"events": events}, headers=auth)
        assert response.status_code == 200, response.json


def url(path_pattern: str) -> re.Pattern:
    """A URL of the fake API (PyGithub spells the port out: https://github.test:443/api/v3/...)."""
    return re.compile(r"https://github\.test(:443)?/api/v3" + path_pattern + "$")


def path_of(request_url: str) -> str:
    return re.sub(r"^https://github\.test(:443)?/api/v3", "", request_url)


class FakeGitHub:
    """GitHub's REST API as `responses` mocks: installation tokens and check runs, every request kept."""

    def __init__(self, rsps: responses.RequestsMock, token_lifetime: timedelta = timedelta(hours=1)) -> None:
        self.rsps = rsps
        self.next_id = itertools.count(4242)
        self.token_lifetime = token_lifetime
        rsps.add_callback(responses.POST, url(r"/app/installations/\d+/access_tokens"), callback=self._token)
        rsps.add_callback(responses.POST, url(r"/repos/[^/]+/[^/]+/check-runs"), callback=self._created)
        rsps.add_callback(responses.PATCH, url(r"/repos/[^/]+/[^/]+/check-runs/\d+"), callback=self._updated)

    def _token(self, request):
        expires = (datetime.now(UTC) + self.token_lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 201, {}, json.dumps({"token": "ghs_installation_token", "expires_at": expires})

    def _created(self, request):
        body = json.loads(request.body)
        return 201, {}, json.dumps({"id": next(self.next_id), "head_sha": body["head_sha"], "name": body["name"]})

    def _updated(self, request):
        return 200, {}, json.dumps({"id": int(request.url.rsplit("/", 1)[1])})

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(call.request.method, path_of(call.request.url)) for call in self.rsps.calls]

    def body(self, index: int) -> dict:
        return json.loads(self.rsps.calls[index].request.body)

    def check_calls(self) -> list[tuple[str, str, dict]]:
        return [(c.request.method, path_of(c.request.url), json.loads(c.request.body))
                for c in self.rsps.calls if "/check-runs" in c.request.url]
