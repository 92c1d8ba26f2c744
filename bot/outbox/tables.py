"""The outbox table: one row per outbound side effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class OutboxRow(Base):
    """One outbound side effect (Jira, GitHub, Slack) waiting to be sent, being sent, sent, or dead."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    coalesce_key: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sending|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # tries, counted at claim
    # Tries the far side answered with a rate limit: shown as tries, but not failures of the row, so they
    # never dead-letter it (dead after max attempts - rate_limited failures).
    rate_limited: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who holds the lease (one token per claim): a worker whose lease expired cannot overwrite the outcome
    # recorded by the worker that reclaimed the row.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    dry_run_request: Mapped[list | None] = mapped_column(JSON)  # [{method, url, json}] recorded in dry-run
    result: Mapped[dict | None] = mapped_column(JSON)  # what the sender returned (ids of what it made)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when it became done or dead

    __table_args__ = (
        Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),
        # The claim walks this in order and stops after one batch, however long the backlog (and it holds no
        # sent rows, so it stays small).
        Index("ix_outbox_pending_due", "next_attempt_at", "id",
              postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
        Index("ix_outbox_coalesce_key_state", "coalesce_key", "state"),
        # At most one pending row per coalesce key, even with concurrent enqueuers: enqueue upserts on it.
        Index("uq_outbox_pending_coalesce_key", "coalesce_key", unique=True,
              postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
    )


class OutboxLimit(Base):
    """A rate limit wider than one row, in force until `until`: every worker (and every run of one) skips the
    kinds it covers, so rows enqueued after it was hit do not walk into it either."""

    __tablename__ = "outbox_limits"

    scope: Mapped[str] = mapped_column(String(150), primary_key=True)  # "kind:jira.spend" | "integration:jira"
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)  # the error that set it (scrubbed), for `outbox list`
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
