"""GitHub tables: installations and repositories served, pull requests and the stories they name, the check
run posted per head SHA, and the audit trail of approved overruns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow

# GitHub ids outgrow 32 bits (check run ids already have); SQLite needs INTEGER for autoincrement keys.
BigId = BigInteger().with_variant(Integer, "sqlite")


class GitHubInstallation(Base):
    """An installation of the GitHub App on an account: its id is what installation tokens are minted for."""

    __tablename__ = "github_installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account: Mapped[str] = mapped_column(String(200))
    app_id: Mapped[int | None] = mapped_column(BigInteger)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class GitHubRepository(Base):
    """A repository an installation serves. Keyed by GitHub's id, which survives renames and transfers."""

    __tablename__ = "github_repositories"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    full_name: Mapped[str] = mapped_column(String(300), index=True)
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class GitHubPullRequest(Base):
    """A pull request as its last webhook described it: head SHA, state, labels and the stories it names."""

    __tablename__ = "github_pull_requests"
    __table_args__ = (UniqueConstraint("repo_id", "number"),
                      Index("ix_github_pull_requests_repo_head", "repo_id", "head_sha"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    repo_id: Mapped[int] = mapped_column(BigInteger)
    repo_full_name: Mapped[str] = mapped_column(String(300))
    number: Mapped[int] = mapped_column(Integer)
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    head_sha: Mapped[str] = mapped_column(String(64))
    head_ref: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text)
    html_url: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(10))  # open | closed
    merged: Mapped[bool] = mapped_column(Boolean, default=False)
    labels: Mapped[list] = mapped_column(JSON, default=list)
    story_keys: Mapped[list] = mapped_column(JSON, default=list)  # in order of mention, for display
    # GitHub's own updated_at of the PR: an older delivery arriving late must not roll the head SHA back.
    github_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # GitHub's time of the last approval or revocation applied: an older one arriving later is ignored.
    approval_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class GitHubPullRequestStory(Base):
    """PR -> story link, indexed by story: a spend change finds the open PRs to re-evaluate in one query."""

    __tablename__ = "github_pull_request_stories"

    pull_request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("github_pull_requests.id", ondelete="CASCADE"), primary_key=True)
    story_key: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class GitHubCheckRun(Base):
    """The check run posted on one head SHA: later evaluations PATCH this id instead of posting another."""

    __tablename__ = "github_check_runs"
    __table_args__ = (UniqueConstraint("repo_id", "head_sha"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    repo_id: Mapped[int] = mapped_column(BigInteger)
    head_sha: Mapped[str] = mapped_column(String(64))
    check_run_id: Mapped[int] = mapped_column(BigInteger)
    conclusion: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GitHubOverride(Base):
    """A person accepted a PR's overrun (label or check button): kept after revocation, as the audit trail."""

    __tablename__ = "github_overrides"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pull_request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("github_pull_requests.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # label | check_action
    approved_by: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    head_sha: Mapped[str] = mapped_column(String(64))
    stories: Mapped[dict] = mapped_column(JSON, default=dict)  # story key -> status when approved
    delivery_id: Mapped[str | None] = mapped_column(String(200))
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
