"""API tokens: shown once at creation, stored as SHA-256, checked on every API call."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time

from flask import current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import get_db, utcnow
from bot.web.tables import ApiToken

TOKEN_PREFIX = "bb_"


class TokenError(ValueError):
    pass


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str) -> str:
    """Create a token named `name` and return its secret; only the hash is stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("a token name must be 1-100 characters")
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise TokenError(f"a token named {name!r} already exists (revoke it or pick another name)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, secret_sha256=hash_secret(secret)))
    return secret


def revoke_token(session: Session, name: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise TokenError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at)))


def find_active_token(session: Session, secret: str) -> ApiToken | None:
    # Looking up by the hash of the presented secret is constant-time with respect to stored secrets.
    token = session.scalar(select(ApiToken).where(ApiToken.secret_sha256 == hash_secret(secret)))
    return token if token is not None and token.revoked_at is None else None


class VerifiedTokens:
    """Token hashes verified in the last `seconds`, with their names. An agent fleet sends a request per model
    call; looking the token up each time was a transaction of its own (three round trips on PostgreSQL) in
    front of every ingest and preflight. A revoked token is refused again once its entry is `seconds` old."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._verified: dict[str, tuple[str, float]] = {}

    def name_of(self, secret: str) -> str | None:
        digest = hash_secret(secret)
        now = time.monotonic()
        cached = self._verified.get(digest)
        if cached is not None and now - cached[1] < self.seconds:
            return cached[0]
        with get_db().read() as session:
            token = find_active_token(session, secret)
            name = token.name if token is not None else None
        if name is None:
            self._verified.pop(digest, None)
            return None
        if len(self._verified) >= self.size:  # bounded: a flood of distinct valid tokens cannot grow it
            self._verified.clear()
        self._verified[digest] = (name, now)
        return name


def verified_tokens() -> VerifiedTokens:
    tokens = current_app.extensions.get("budgetbot.tokens")
    if tokens is None:
        tokens = current_app.extensions["budgetbot.tokens"] = VerifiedTokens(
            current_app.config["SETTINGS"].token_cache_seconds)
    return tokens


def require_token(view):
    """Reject the request with 401 JSON unless it carries `Authorization: Bearer <active token>`."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        name = verified_tokens().name_of(secret.strip())
        if name is None:
            return _unauthorized("invalid or revoked token")
        g.api_token_name = name
        return view(*args, **kwargs)

    return wrapper


def _unauthorized(message: str):
    response = jsonify(error="unauthorized", message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="budgetbot"'
    return response
