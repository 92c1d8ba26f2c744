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
        names = [c.name for c in table.c if c.name in rows[0]]
        self.stmt = unnest_insert(table, names)
        self.params = array_params(table, rows, names, "")

    def execute(self, session: Session, stmt=None):
        stmt = self.stmt if stmt is None else stmt
        return session.execute(stmt, self.params) if self.unnest else session.execute(stmt, self.rows)


def unnest_insert(table: Table, names: list[str], prefix: str = "", where=None):
    """INSERT INTO table (names) SELECT unnest(…) …: see `unnest_select`. The batch gives every column it inserts
    (Python-side column defaults are not added: the server's apply), `where` filters the whole batch."""
    rows = unnest_select(table, names, prefix)
    return postgresql.insert(table).from_select(names, rows if where is None else rows.where(where),
                                                include_defaults=False)


def unnest_select(table: Table, names: list[str], prefix: str):
    """SELECT unnest(:prefix_col) … for `names` of `table`: the rows of an INSERT … SELECT shipped as one array per
    column (PostgreSQL). Its text does not depend on the number of rows, so psycopg prepares it once; the bind
    names carry `prefix`, so several of these can share one statement (the ledger's one-statement write)."""
    columns = [table.c[name] for name in names]
    return select(*(_unnest_column(column, f"{prefix}{column.name}") for column in columns))


def _unnest_column(column, name: str):
    if isinstance(column.type, JSON):  # no json[] type: ship text, cast back per row
        return cast(func.unnest(bindparam(name, type_=postgresql.ARRAY(Text))), column.type)
    return func.unnest(bindparam(name, type_=postgresql.ARRAY(column.type)))


def array_params(table: Table, rows: list[dict], names: list[str], prefix: str) -> dict[str, list]:
    """The bind values of `unnest_select(table, names, prefix)` for `rows`."""
    params = {}
    for name in names:
        values = [row[name] for row in rows]
        if isinstance(table.c[name].type, JSON):
            values = [json.dumps(value) for value in values]
        params[f"{prefix}{name}"] = values
    return params
