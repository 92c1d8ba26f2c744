"""Dashboard users: passwords hashed with werkzeug's scrypt, roles, and the failed-login throttle."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.db import utcnow
from bot.web.tables import DashboardUser, LoginFailure

ROLES = ("viewer", "admin")
MIN_PASSWORD = 10
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")


@functools.cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password (no user enumeration).
    Made on first use: scrypt is slow on purpose, and every process (worker, clock, CLI) imports this module."""
    return generate_password_hash("budgetbot-not-a-password", method="scrypt")


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class LoginResult:
    user: DashboardUser | None
    locked_until: datetime | None = None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def create_user(session: Session, name: str, password: str, role: str) -> DashboardUser:
    if not _NAME.match(name):
        raise UserError("a user name is 1-100 letters, digits or . _ @ -")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    if find_user(session, name) is not None:
        raise UserError(f"a user named {name!r} already exists")
    user = DashboardUser(name=name, role=role, password_hash=generate_password_hash(password, method="scrypt"))
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> DashboardUser | None:
    return session.scalar(select(DashboardUser).where(DashboardUser.name == name))


def set_password(session: Session, name: str, password: str, now: datetime | None = None) -> None:
    """New password; sessions signed in with the old one end (they carry its fingerprint)."""
    user = find_user(session, name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    _check_password(password)
    user.password_hash = generate_password_hash(password, method="scrypt")
    user.password_changed_at = now or utcnow()


def remove_user(session: Session, name: str) -> None:
    user = find_user(session, name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    session.delete(user)


def list_users(session: Session) -> list[DashboardUser]:
    return list(session.scalars(select(DashboardUser).order_by(DashboardUser.name)))


def session_fingerprint(user: DashboardUser) -> str:
    """A piece of the hash (salted, not the password): changes with the password and so ends old sessions."""
    return user.password_hash[-16:]


def authenticate(session: Session, name: str, password: str, ip: str, settings,
                 now: datetime | None = None) -> LoginResult:
    """Check a login, throttled per name and address: after too many failures, refuse without checking."""
    now = now or utcnow()
    window = timedelta(minutes=settings.login_lockout_minutes)
    name, ip = name[:100], ip[:64]
    recent = select(func.count(), func.max(LoginFailure.at)).where(
        LoginFailure.name == name, LoginFailure.ip == ip, LoginFailure.at > now - window)
    failures, last = session.execute(recent).one()
    if failures >= settings.login_max_failures:
        return LoginResult(None, locked_until=last + window)
    user = find_user(session, name)
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password) and user is not None
    if not ok:
        session.add(LoginFailure(name=name, ip=ip, at=now))
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - window))  # keep the table small
        return LoginResult(None)
    session.execute(delete(LoginFailure).where(LoginFailure.name == name, LoginFailure.ip == ip))
    return LoginResult(user)
