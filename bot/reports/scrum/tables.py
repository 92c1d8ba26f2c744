"""Scrum tables: the anomaly alerts raised (one per rule, subject and day)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class Alert(Base):
    """One anomaly: at most one per rule, subject and UTC day (the unique key is the deduplication)."""

    __tablename__ = "scrum_alerts"
    __table_args__ = (UniqueConstraint("rule", "subject", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))  # org | agent:NAME | person:NAME | run:ID
    day: Mapped[date] = mapped_column(Date)
    story_key: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
