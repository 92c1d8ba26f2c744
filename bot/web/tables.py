"""Tables of the web layer: API tokens (only the SHA-256 of a secret is kept), dashboard users and failed logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class ApiToken(Base):
    """A bearer token for the ingest API; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardUser(Base):
    """A person who logs in to the dashboard: a viewer reads, an admin also acts (retry, breakers, approvals)."""

    __tablename__ = "dashboard_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))  # werkzeug.security: scrypt with a random salt
    role: Mapped[str] = mapped_column(String(10))  # viewer | admin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginFailure(Base):
    """A failed login, kept for the throttle window: too many for one name from one address lock it out."""

    __tablename__ = "dashboard_login_failures"
    __table_args__ = (Index("ix_dashboard_login_failures_name_ip_at", "name", "ip", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
