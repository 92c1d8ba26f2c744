"""Core tables: the usage ledger, stories with their budgets and totals, daily rollups, API tokens, webhook deliveries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Text, UniqueConstraint
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
    model: Mapped[str] = mapped_column(String(200))
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
    assignee: Mapped[str | None] = mapped_column(String(200))
    sprint: Mapped[str | None] = mapped_column(String(200))
    jira_status: Mapped[str | None] = mapped_column(String(100))
    story_points: Mapped[float | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    budget_tokens: Mapped[int | None] = mapped_column(BigInteger)
    budget_nano_usd: Mapped[int | None] = mapped_column(BigInteger)
    spent_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_events: Mapped[int] = mapped_column(BigInteger, default=0)
    first_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class StoryDay(Base):
    """Per story, per UTC day rollup of the ledger, kept in the same transaction as the insert."""

    __tablename__ = "story_days"

    story_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_events: Mapped[int] = mapped_column(BigInteger, default=0)


class ApiToken(Base):
    """A bearer token for the ingest API; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Delivery(Base):
    """A webhook delivery already processed: deduplicates GitHub and Jira redeliveries."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("source", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    delivery_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxRow(Base):
    """One outbound side effect (Jira, GitHub, Slack) waiting to be sent, being sent, sent, or dead."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    coalesce_key: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sending|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    dry_run_request: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),
        Index("ix_outbox_coalesce_key_state", "coalesce_key", "state"),
    )



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
