"""The core tables: the usage ledger, stories with budgets and totals, sprints, and the rollups kept at ingest."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow

# Money is stored as integer nano-dollars (1e-9 USD): sums are exact on SQLite and
# PostgreSQL alike, and a story would need $9.2 billion to overflow.
NANO = 10**9


class UsageEvent(Base):
    """One model call, as reported by an agent or its proxy. Append-only."""

    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    story_key: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    agent: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))  # exactly as sent
    # genai-prices' canonical id (`GPT-4o`, `gpt-4o-2024-11-20` -> `gpt-4o`): what reports group by.
    model_family: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    run_id: Mapped[str | None] = mapped_column(String(200), index=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    cost_nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    priced: Mapped[bool] = mapped_column(Boolean)
    price_source: Mapped[str] = mapped_column(String(20))  # genai-prices | price-file | client | unpriced
    outcome: Mapped[str] = mapped_column(String(10), default="ok")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    reservation_id: Mapped[str | None] = mapped_column(String(32))  # the preflight reservation this call settles

    __table_args__ = (Index("ix_usage_events_story_occurred", "story_key", "occurred_at"),)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Story(Base):
    """A Jira story: its budget (mirrored from Jira or set via API) and live spend totals."""

    __tablename__ = "stories"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(32), index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(String(255))  # Jira display names: up to 255
    sprint: Mapped[str | None] = mapped_column(String(200))
    jira_status: Mapped[str | None] = mapped_column(String(255))  # Jira status names: up to 255
    story_points: Mapped[float | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    budget_tokens: Mapped[int | None] = mapped_column(BigInteger)
    budget_nano_usd: Mapped[int | None] = mapped_column(BigInteger)
    spent_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_events: Mapped[int] = mapped_column(BigInteger, default=0)
    # A standing StoryApproval exists (kept by bot.ledger.approvals): the overrun is accepted, `overridden`.
    overrun_approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class StoryView(Protocol):
    """What code reading a story uses: a `Story` object, or a row of `Story.__table__` returned by a Core
    statement (`StoryChange.story` after an ingest). Read-only: properties, so both kinds match."""

    @property
    def key(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def summary(self) -> str | None: ...
    @property
    def assignee(self) -> str | None: ...
    @property
    def sprint(self) -> str | None: ...
    @property
    def jira_status(self) -> str | None: ...
    @property
    def story_points(self) -> float | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def budget_tokens(self) -> int | None: ...
    @property
    def budget_nano_usd(self) -> int | None: ...
    @property
    def spent_tokens(self) -> int: ...
    @property
    def spent_nano_usd(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def unpriced_events(self) -> int: ...
    @property
    def overrun_approved(self) -> bool: ...
    @property
    def first_event_at(self) -> datetime | None: ...
    @property
    def last_event_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime: ...


class StoryDay(Base):
    """Per story, per UTC day rollup of the ledger, kept in the same transaction as the insert."""

    __tablename__ = "story_days"

    story_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_events: Mapped[int] = mapped_column(BigInteger, default=0)


class Sprint(Base):
    """A sprint (from Jira's Agile API, or entered by dates without Jira) for the digest and retro."""

    __tablename__ = "sprints"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str | None] = mapped_column(String(20))  # future | active | closed
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    jira_sprint_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    board_id: Mapped[int | None] = mapped_column(BigInteger)


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


class UsageVoid(Base):
    """A correction appended to the ledger: the event it names no longer counts anywhere (the event stays)."""

    __tablename__ = "usage_voids"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    voided_by: Mapped[str] = mapped_column(String(200))
    voided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(Text)


class StoryApproval(Base):
    """A person accepted a story's overrun (CLI, API or a GitHub label/button); revoked rows stay for the audit."""

    __tablename__ = "story_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    story_key: Mapped[str] = mapped_column(String(64), index=True)
    approved_by: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(40))  # cli | api | github-label | github-button
    reference: Mapped[str | None] = mapped_column(String(200))  # e.g. the GitHub override row it mirrors
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(Text)
