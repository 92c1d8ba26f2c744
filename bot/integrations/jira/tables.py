"""Jira-side state: per issue what budgetbot last mirrored and wrote, the ids of the comments it owns, and its
copy of the site's field list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class JiraIssue(Base):
    """What budgetbot knows about a Jira issue beyond the core Story row."""

    __tablename__ = "jira_issues"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    issue_id: Mapped[str | None] = mapped_column(String(32))
    # Cloud accountId (Data Center: username) of the assignee, for mentions; Story.assignee is the display name.
    assignee_id: Mapped[str | None] = mapped_column(String(255))
    # The budget last mirrored from Jira: reconcile clears a budget only if it came from Jira.
    mirrored_budget_tokens: Mapped[int | None] = mapped_column(BigInteger)
    mirrored_budget_nano_usd: Mapped[int | None] = mapped_column(BigInteger)
    # The Token Spend values last written (or seen) in Jira: an unchanged value is not written again.
    spend_written_tokens: Mapped[int | None] = mapped_column(BigInteger)
    spend_written_nano_usd: Mapped[int | None] = mapped_column(BigInteger)
    spend_written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class JiraComment(Base):
    """A comment budgetbot posted, by (issue, marker): later sends edit it instead of adding another."""

    __tablename__ = "jira_comments"
    __table_args__ = (UniqueConstraint("key", "marker"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    marker: Mapped[str] = mapped_column(String(100))
    comment_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class JiraFieldList(Base):
    """The site's field list (GET /field) as last fetched off-request: webhooks read it instead of asking Jira."""

    __tablename__ = "jira_field_lists"

    site: Mapped[str] = mapped_column(String(500), primary_key=True)  # BUDGETBOT_JIRA_URL
    fields: Mapped[list] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
