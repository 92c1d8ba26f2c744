"""The retro's rollup: the ledger summed per team day and every dimension a retro figure groups by."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


class RetroDay(Base):
    """Per team day and cell (story, agent, model family, provider, team, cost center): event counts and token
    and dollar sums, and those of the calls that ended in `error` (columns, not a dimension: errors are a few
    percent of the calls, and a dimension would nearly double the rows). Kept at ingest by a `usage_recorded`
    listener (bot.reports.retro.rollup).

    It holds every event recorded, voided ones included: no domain event announces a void, so the few voided
    events are taken out when the rollup is read. Missing dimensions are stored as ''. The key is a hash of the
    cell: the dimensions can be up to ~1,100 characters together, more than a PostgreSQL index entry holds."""

    __tablename__ = "retro_usage_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cell: Mapped[str] = mapped_column(String(32), primary_key=True)
    story_key: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))  # the model family, as the reports group models
    provider: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(256))  # attributes.team
    cost_center: Mapped[str] = mapped_column(String(256))  # attributes.cost_center
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_events: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    error_events: Mapped[int] = mapped_column(BigInteger, default=0)
    error_unpriced_events: Mapped[int] = mapped_column(BigInteger, default=0)
    error_tokens: Mapped[int] = mapped_column(BigInteger, default=0)  # input + output
    error_nano_usd: Mapped[int] = mapped_column(BigInteger, default=0)

    # An over-budget story's lifetime breakdown reads one story's rows across all days.
    __table_args__ = (Index("ix_retro_usage_days_story_day", "story_key", "day"),)
