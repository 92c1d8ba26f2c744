"""The kill switches a human trips (preflight blocks what they cover)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
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

    __table_args__ = (Index("ix_breakers_scope_target", "scope", "target"),)

    @property
    def label(self) -> str:
        return "everything" if self.scope == "all" else f"{self.scope} {self.target}"
