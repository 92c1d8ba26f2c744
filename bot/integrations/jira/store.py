"""What Jira senders remember (comment ids, Token Spend last written), written beside the worker, never blocking it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.db import make_engine, utcnow
from bot.integrations.jira.tables import JiraComment, JiraIssue
from bot.ledger.tables import Story
from bot.upsert import dialect_insert

log = logging.getLogger(__name__)
# A sender runs outside the caller's unit of work, so it writes in its own single-statement transactions.
# On SQLite a worker may still hold the write lock while it calls senders: then the write waits at most
# LOCK_WAIT and is queued until this thread's next commit (see _flush_after_commit) instead of deadlocking.
LOCK_WAIT = 0.1
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_local = threading.local()


def _engine(url: str) -> Engine:
    with _engines_lock:
        if url not in _engines:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": LOCK_WAIT})
                # Autocommit statements, no BEGIN IMMEDIATE: reads never wait for a writer (WAL).
                event.listen(engine, "connect", lambda conn, _record: setattr(conn, "isolation_level", None))
            else:
                engine = make_engine(url)
            _engines[url] = engine
        return _engines[url]


def reset() -> None:
    """Drop pooled connections and queued writes (a new app, or a test, starts clean)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
    _local.pending = []


def _write(settings, work: Callable[[Session], None]) -> None:
    _local.pending = getattr(_local, "pending", []) + [(settings.database_url, work)]
    _flush()


def _flush() -> None:
    pending, _local.pending = getattr(_local, "pending", []), []
    for index, (url, work) in enumerate(pending):
        try:
            with Session(_engine(url)) as session, session.begin():
                work(session)
        except OperationalError as exc:
            if "locked" not in str(exc).lower():
                raise
            log.debug("database busy; Jira state write queued until this thread's next commit")
            _local.pending = pending[index:] + _local.pending
            return


@event.listens_for(Session, "after_commit")
def _flush_after_commit(_session: Session) -> None:
    if getattr(_local, "pending", None):
        _flush()


def _upsert(session: Session, table, values: dict, index: list[str], update: dict) -> None:
    stmt = dialect_insert(session, table).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=index, set_=update))


def comment_id(settings, key: str, marker: str) -> str | None:
    with Session(_engine(settings.database_url)) as session:
        return session.scalar(select(JiraComment.comment_id).where(JiraComment.key == key,
                                                                   JiraComment.marker == marker))


def save_comment_id(settings, key: str, marker: str, value: str) -> None:
    now = utcnow()
    _write(settings, lambda session: _upsert(
        session, JiraComment, {"key": key, "marker": marker, "comment_id": value, "created_at": now,
                               "updated_at": now}, ["key", "marker"], {"comment_id": value, "updated_at": now}))


def story_spend(settings, key: str) -> tuple[int, int] | None:
    """The story's live totals (tokens, nano-USD), read beside the worker."""
    with Session(_engine(settings.database_url)) as session:
        row = session.execute(select(Story.spent_tokens, Story.spent_nano_usd).where(Story.key == key)).first()
    return (int(row[0]), int(row[1])) if row else None


def spend_written(settings, key: str) -> tuple[int | None, int | None]:
    with Session(_engine(settings.database_url)) as session:
        row = session.execute(select(JiraIssue.spend_written_tokens, JiraIssue.spend_written_nano_usd)
                              .where(JiraIssue.key == key)).first()
    return (row[0], row[1]) if row else (None, None)


def save_spend_written(settings, key: str, tokens: int, nano_usd: int | None, at: datetime) -> None:
    values = {"spend_written_tokens": tokens, "spend_written_nano_usd": nano_usd, "spend_written_at": at,
              "updated_at": utcnow()}
    _write(settings, lambda session: _upsert(session, JiraIssue, {"key": key, **values}, ["key"], values))
