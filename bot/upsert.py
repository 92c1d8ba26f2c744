"""Multi-row INSERT (… ON CONFLICT) that is fast on both backends.

SQLite takes an executemany. On PostgreSQL, SQLAlchemy's multi-VALUES form binds one parameter per
cell; psycopg then re-parses that 20,000-placeholder statement on every batch (it only caches queries
under 4 KiB), which cost more than the insert itself. So on PostgreSQL each column travels as one
array and the rows are rebuilt server-side with unnest(): one short, cacheable statement per batch.
Small batches (a single-event request) keep the plain form, which plans faster.
"""

from __future__ import annotations

import json

from sqlalchemy import JSON, Table, Text, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

SMALL_BATCH = 20


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Session, table):
    """INSERT with ON CONFLICT support for whichever backend the session talks to."""
    return (postgresql if is_postgres(session) else sqlite).insert(table)


class BulkInsert:
    """`.stmt` is a dialect INSERT (add .on_conflict_…/.returning as usual); run it with `.execute(session)`."""

    def __init__(self, session: Session, table: Table, rows: list[dict]) -> None:
        if not rows:
            raise ValueError("no rows to insert")
        self.rows = rows
        # A handful of rows binds few parameters; unnest() only pays off for big batches.
        self.unnest = is_postgres(session) and len(rows) > SMALL_BATCH
        if not self.unnest:
            self.stmt = dialect_insert(session, table)
            return
        columns = [c for c in table.c if c.name in rows[0]]
        arrays = [self._unnest(column) for column in columns]
        self.stmt = postgresql.insert(table).from_select([c.name for c in columns], select(*arrays))

    def _unnest(self, column):
        values = [row[column.name] for row in self.rows]
        if isinstance(column.type, JSON):  # no json[] type: ship text, cast back per row
            texts = bindparam(column.name, [json.dumps(v) for v in values], type_=postgresql.ARRAY(Text))
            return cast(func.unnest(texts), column.type)
        return func.unnest(bindparam(column.name, values, type_=postgresql.ARRAY(column.type)))

    def execute(self, session: Session, stmt=None):
        stmt = self.stmt if stmt is None else stmt
        return session.execute(stmt) if self.unnest else session.execute(stmt, self.rows)
