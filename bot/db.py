"""Database engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import DateTime, MetaData, Table, create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """`model.__table__` as the `Table` it is. SQLAlchemy types `__table__` as `FromClause` (a mapping may be
    to any selectable); every model here is declared with `__tablename__`, so it is a `Table`."""
    return cast(Table, model.__table__)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched. SQLAlchemy types `session.execute()` as a plain Result; for those
    statements it is a CursorResult, which has the count."""
    return cast(CursorResult[Any], result).rowcount or 0


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        # No folder is made here: reading must never create a database (`budgetbot db upgrade` does).
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # No pre-ping (a round trip before every transaction): connections are recycled before servers and proxies
    # drop idle ones, and one that died anyway is invalidated with its pool on the first error.
    return create_engine(url, pool_recycle=POOL_RECYCLE_SECONDS)


POOL_RECYCLE_SECONDS = 300


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and for :memory:)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web, worker and clock processes read while one writes.
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = {"budgetbot_read_only": True}


def _sqlite_begin_immediate(connection) -> None:
    # Take the write lock at BEGIN so two writers wait on busy_timeout instead of
    # failing with "database is locked" when a read transaction tries to upgrade.
    # A read that asks for it (execution option budgetbot_read_only) begins DEFERRED: it never takes that lock.
    connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get("budgetbot_read_only")
                               else "BEGIN IMMEDIATE")


class Database:
    """The engine and session factory of one app. Its sessions carry the app's registry and event bus
    (`session.info`), so what the ledger announces reaches that app's listeners and no other's."""

    def __init__(self, url: str, registry: Any = None, timezone: str = "UTC") -> None:
        self.engine = make_engine(url)
        self.registry = registry
        # The team's zone travels with every session: the ledger buckets its rollups by the team's days.
        info: dict[str, Any] = {"timezone": timezone}
        if registry is not None:
            info["events"] = registry.events
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False, info=info)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        with self.session_factory() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read: on SQLite it never takes the write lock (DEFERRED); it ends with COMMIT, not ROLLBACK, because
        psycopg throws its prepared statements away on every ROLLBACK."""
        with self.session_factory() as session, session.begin():
            session.connection(execution_options=READ_ONLY)
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def init_app(app: Flask, registry: Any = None) -> None:
    settings = app.config["SETTINGS"]
    app.extensions["budgetbot.db"] = Database(settings.database_url, registry, settings.timezone)


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["budgetbot.db"]
