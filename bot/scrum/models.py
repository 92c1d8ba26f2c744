"""Scrum tables: per agent/model daily rollups, per-run totals, anomaly alerts, and the clock's lock and run log."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class UsageDay(Base):
    """Per UTC day, story, agent and model: what the ledger holds, summed. Kept up to date at ingest.

    Missing story/agent are stored as '' (not NULL) so they can be part of the primary key."""

    __tablename__ = "scrum_usage_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    story_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    tool_calls: Mapped[int] = mapped_column(BigInteger, default=0)

    # The per-story burn-down reads one story's rows across all days.
    __table_args__ = (Index("ix_scrum_usage_days_story_day", "story_key", "day"),)


class AgentDay(Base):
    """Per UTC day and agent ('' when none): what the spike and share rules read, one small row per agent."""

    __tablename__ = "scrum_agent_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agent: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class RunStat(Base):
    """Running totals of one agent run (run_id), so run rules are judged at ingest without a ledger scan."""

    __tablename__ = "scrum_runs"

    run_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    story_key: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))  # the latest model seen
    first_event_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    tool_calls: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    # `error` outcomes since the last `ok` one, and the longest such streak seen: the runaway-loop signature.
    errors_since_ok: Mapped[int] = mapped_column(Integer, default=0)
    max_error_streak: Mapped[int] = mapped_column(Integer, default=0)


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
