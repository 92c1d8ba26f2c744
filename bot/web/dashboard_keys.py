"""The dashboard's keys: the session/CSRF secret, and signed, expiring, read-only story links."""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

log = logging.getLogger(__name__)
KEY_FILE = "dashboard_secret_key"
LINK_SALT = "budgetbot.story-link"
DAY = 86400


class LinkError(ValueError):
    """A story link that does not open the story; `expired` tells a stale link from a forged one."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def instance_dir() -> Path:
    """Flask's instance folder (the repo's instance/ for this layout), also outside an app (worker, clock)."""
    if has_app_context():
        return Path(current_app.instance_path)
    return Path(__file__).resolve().parents[2] / "instance"


def secret_key(settings) -> tuple[str, bool]:
    """BUDGETBOT_SECRET_KEY, or one generated once and kept in the instance folder: (key, generated)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value(), False
    path = instance_dir() / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        temp.write_text(secrets.token_urlsafe(48))
        temp.chmod(0o600)
        try:
            os.link(temp, path)  # atomic and never overwrites: every process ends up with the same key
            log.warning("no BUDGETBOT_SECRET_KEY: generated one in %s (fine for dry-run and development; "
                        "set BUDGETBOT_SECRET_KEY in production)", path)
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
    return path.read_text().strip(), True


def link_key(settings) -> str:
    if settings.link_secret_key is not None and settings.link_secret_key.get_secret_value():
        return settings.link_secret_key.get_secret_value()
    return secret_key(settings)[0]


def link_lifetime(settings) -> int:
    """BUDGETBOT_STORY_LINK_DAYS in seconds: no link opens its story for longer than that after it was made."""
    return max(int(settings.story_link_days * DAY), 1)


def link_bucket(lifetime: int) -> int:
    """How long a story keeps one link: a tenth of the lifetime, at most a day (so, by default, a UTC day)."""
    return max(min(DAY, lifetime // 10), 1)


class _BucketSigner(TimestampSigner):
    """Stamps a token with the time rounded down to the bucket. The same story, key and bucket then give the same
    token, so a check, comment or digest rendered again says the same thing and needs no edit. Only signs: tokens
    are checked against the real clock, so a link lives between lifetime - bucket and lifetime."""

    def __init__(self, *args: Any, bucket: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = bucket

    def get_timestamp(self) -> int:
        now = int(time.time())
        return now - now % self.bucket


def story_token(settings, key: str) -> str:
    signer = URLSafeTimedSerializer(link_key(settings), salt=LINK_SALT, signer=_BucketSigner,
                                    signer_kwargs={"bucket": link_bucket(link_lifetime(settings))})
    return signer.dumps(key)


def signed_story_url(settings, key: str) -> str:
    """`{public_url}/stories/KEY?t=...`: opens that one story, read-only, without an account, until it expires.
    The same all bucket long (see `link_bucket`); rotating BUDGETBOT_LINK_SECRET_KEY revokes every one."""
    return f"{settings.public_url.rstrip('/')}/stories/{key}?t={story_token(settings, key)}"


def check_story_token(settings, token: str, key: str) -> None:
    """Raise LinkError unless `token` was signed by us for `key` within the link lifetime."""
    try:
        signed_key = URLSafeTimedSerializer(link_key(settings), salt=LINK_SALT).loads(
            token, max_age=link_lifetime(settings))
    except SignatureExpired:
        raise LinkError("this link has expired", expired=True) from None
    except BadSignature:
        raise LinkError("this link is not valid") from None
    if signed_key != key:
        raise LinkError("this link is for another story")
