"""Multi-row INSERT (… ON CONFLICT) that is fast on both backends.

SQLite takes an executemany. On PostgreSQL a batch travels as ONE parameter: its rows as a JSON array,
turned back into typed rows server-side by `json_to_recordset`. SQLAlchemy's multi-VALUES form binds one
parameter per cell (psycopg re-parses a 20,000-placeholder statement on every batch); one array per column
costs a Python-level dump of every element and a statement too long for psycopg's query cache. One JSON
text is encoded by the C encoder, parsed by the server in C, and keeps the statement short and constant
whatever the batch size, so psycopg prepares it.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import JSON, Table, Text, bindparam, cast, column, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Session, table):
    """INSERT with ON CONFLICT support for whichever backend the session talks to."""
    return (postgresql if is_postgres(session) else sqlite).insert(table)


def batch_insert(table: Table, names: list[str], postgres: bool):
    """The INSERT a batch of `names` rows goes through: `json_insert` on PostgreSQL, an executemany on SQLite
    (add .on_conflict_…/.returning as usual; run it with `batch_params`)."""
    return json_insert(table, names) if postgres else sqlite.insert(table)


def batch_params(rows: list[dict], postgres: bool):
    """What `batch_insert`'s statement runs with: the rows as one JSON parameter, or the rows (an executemany)."""
    return {"rows": json_rows(rows)} if postgres else rows


def json_insert(table: Table, names: list[str], param: str = "rows", where=None):
    """PostgreSQL: INSERT INTO table (names) SELECT … FROM json_to_recordset(:param) — the rows of a batch as one
    JSON parameter (`json_rows`). Every inserted column comes from the batch (Python-side column defaults are
    not added; the server's apply); `where` filters the whole batch."""
    rows = json_select(table, names, param)
    return postgresql.insert(table).from_select(names, rows if where is None else rows.where(where),
                                                include_defaults=False)


def json_select(table: Table, names: list[str], param: str):
    """SELECT names FROM json_to_recordset(:param) AS (name type, …), typed as `table`'s columns."""
    records = (func.json_to_recordset(cast(bindparam(param, type_=Text), JSON))
               .table_valued(*(column(name, table.c[name].type) for name in names))
               .render_derived(with_types=True))
    return select(*(records.c[name] for name in names))


def json_rows(rows: list[dict]) -> str:
    """The JSON text of a batch for `json_insert` (a key that is not a column is ignored by the server)."""
    return json.dumps(rows, default=_iso, separators=(",", ":"))


def _iso(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # the ledger's datetimes are UTC-aware: the offset travels with them
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class BulkInsert:
    """`.stmt` is a dialect INSERT (add .on_conflict_…/.returning as usual); run it with `.execute(session)`."""

    def __init__(self, session: Session, table: Table, rows: list[dict]) -> None:
        if not rows:
            raise ValueError("no rows to insert")
        self.rows = rows
        self.postgres = is_postgres(session)
        self.stmt = batch_insert(table, [c.name for c in table.c if c.name in rows[0]], self.postgres)

    def execute(self, session: Session, stmt=None):
        return session.execute(self.stmt if stmt is None else stmt, batch_params(self.rows, self.postgres))
