"""The clock's tables: its lease, and when each job last ran."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime


class ClockLock(Base):
    """A lease row: the clock holding an unexpired lease is the only one that runs jobs."""

    __tablename__ = "scrum_clock_lock"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())


class ClockRun(Base):
    """The last scheduled time each job ran for: a run missed while no clock was up is caught up once."""

    __tablename__ = "scrum_clock_runs"

    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_fire_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
