"""What the Jira senders remember (comment ids, Token Spend last written), read and written through ctx.db.

A sender runs while the worker holds no transaction (it records outcomes after sending), so each of these is
a short transaction of its own on the worker's one Database: no engine, queue or hook of its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database, utcnow
from bot.integrations.jira.tables import JiraComment, JiraIssue
from bot.ledger.tables import Story
from bot.upsert import dialect_insert


def _upsert(session: Session, table, values: dict, index: list[str], update: dict) -> None:
    stmt = dialect_insert(session, table).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=index, set_=update))


def comment_id(db: Database, key: str, marker: str) -> str | None:
    with db.session_factory() as session:
        return session.scalar(select(JiraComment.comment_id).where(JiraComment.key == key,
                                                                   JiraComment.marker == marker))


def save_comment_id(db: Database, key: str, marker: str, value: str) -> None:
    now = utcnow()
    with db.transaction() as session:
        _upsert(session, JiraComment, {"key": key, "marker": marker, "comment_id": value, "created_at": now,
                                       "updated_at": now}, ["key", "marker"], {"comment_id": value, "updated_at": now})


def story_spend(db: Database, key: str) -> tuple[int, int] | None:
    """The story's live totals (tokens, nano-USD)."""
    with db.session_factory() as session:
        row = session.execute(select(Story.spent_tokens, Story.spent_nano_usd).where(Story.key == key)).first()
    return (int(row[0]), int(row[1])) if row else None


def spend_written(db: Database, key: str) -> tuple[int | None, int | None]:
    with db.session_factory() as session:
        row = session.execute(select(JiraIssue.spend_written_tokens, JiraIssue.spend_written_nano_usd)
                              .where(JiraIssue.key == key)).first()
    return (row[0], row[1]) if row else (None, None)


def save_spend_written(db: Database, key: str, tokens: int, nano_usd: int | None, at: datetime) -> None:
    values = {"spend_written_tokens": tokens, "spend_written_nano_usd": nano_usd, "spend_written_at": at,
              "updated_at": utcnow()}
    with db.transaction() as session:
        _upsert(session, JiraIssue, {"key": key, **values}, ["key"], values)
