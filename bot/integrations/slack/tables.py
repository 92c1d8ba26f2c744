"""Slack's own table: where each message with an update_key was posted, so a re-send edits it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class SlackMessage(Base):
    """A posted message (channel id + ts, as chat.update needs them) and the chart uploaded with it."""

    __tablename__ = "slack_messages"

    update_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(50))
    ts: Mapped[str] = mapped_column(String(50))
    file_id: Mapped[str | None] = mapped_column(String(50))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
