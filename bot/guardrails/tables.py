"""Guardrail tables: kill switches, reservations of headroom, blocked calls, spend per local day/month, story labels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class Breaker(Base):
    """A kill switch a human tripped: blocks preflight for everything, an agent, a story or a run."""

    __tablename__ = "breakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # all | agent | story | run
    target: Mapped[str] = mapped_column(String(200), default="")  # "" for scope "all"
    reason: Mapped[str] = mapped_column(Text)
    tripped_by: Mapped[str | None] = mapped_column(String(200))
    tripped_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cleared_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_breakers_scope_target", "scope", "target"),
        # One active breaker per scope and target, even when two trips race (breaker_store.trip answers the loser
        # "already tripped"); cleared ones stay as history, as many as there were.
        Index("uq_breakers_active_scope_target", "scope", "target", unique=True,
              postgresql_where=text("cleared_at IS NULL"), sqlite_where=text("cleared_at IS NULL")),
    )

    @property
    def label(self) -> str:
        return "everything" if self.scope == "all" else f"{self.scope} {self.target}"


class Reservation(Base):
    """Headroom an allowed preflight set aside for the call it announced; the usage event naming it settles it."""

    __tablename__ = "guardrail_reservations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    story_key: Mapped[str | None] = mapped_column(String(64), index=True)
    agent: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(200))
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class BlockedCall(Base):
    """A preflight answered `block`: who asked, for what, which limits and the figures (the audit trail)."""

    __tablename__ = "guardrail_blocks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    story_key: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    asked_by: Mapped[str | None] = mapped_column(String(100))  # the API token's name
    codes: Mapped[str] = mapped_column(String(300))  # comma-separated reason codes, e.g. "run_tokens,org_day_usd"
    reasons: Mapped[list] = mapped_column(JSON, default=list)  # [{code, limit, figure, unit, message}]

    __table_args__ = (Index("ix_guardrail_blocks_story_at", "story_key", "at"),)


class StoryLabels(Base):
    """A story's Jira labels, for the policy's per-label overrides."""

    __tablename__ = "guardrail_story_labels"

    story_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[list] = mapped_column(JSON, default=list)
