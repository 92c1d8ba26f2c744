"""Writing outbox rows cheaply: enqueue sits in the transaction of every usage insert, so it must cost little
next to it (bench/outbox.py: target <= 10%). `insert_row` writes one row on the DB-API cursor; `upsert_rows`
writes a batch's rows (enqueue_many) in one statement however many there are (bench/integrations.py)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, bindparam, case, literal, select, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.outbox.tables import OutboxRow
from bot.sql_sets import JsonSet, as_json

TABLE = OutboxRow.__table__
COLUMNS = ("kind", "coalesce_key", "payload", "state", "attempts", "next_attempt_at", "created_at", "updated_at")


class _DriverStatement:
    """An INSERT (or upsert) compiled once for one dialect, run straight on the DB-API cursor.

    Building the ON CONFLICT statement costs more than running it, and even a cached statement pays for
    cache keys and result handling; the database round trip is what remains. Values still go through
    each column type's own bind processor (JSON, UTC datetimes), so what is stored is what the ORM stores.
    """

    def __init__(self, dialect, upsert: bool) -> None:
        module = postgresql if dialect.name == "postgresql" else sqlite
        stmt = module.insert(TABLE).values({name: bindparam(name) for name in COLUMNS})
        if upsert:
            # One statement, atomic under concurrent enqueuers: the partial unique index on pending keys makes
            # a second writer wait for the first and then update its row instead of inserting a twin.
            stmt = stmt.on_conflict_do_update(
                index_elements=[TABLE.c.coalesce_key], index_where=text("state = 'pending'"),
                set_={"payload": stmt.excluded.payload, "kind": stmt.excluded.kind,
                      "updated_at": stmt.excluded.updated_at})
        compiled = stmt.returning(TABLE.c.id).compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = compiled.positiontup if dialect.positional else None
        self.processors = {name: TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                           for name in COLUMNS}

    def run(self, session: Session, values: dict) -> int:
        named = {name: (p(values[name]) if (p := self.processors[name]) else values[name]) for name in COLUMNS}
        params: dict | tuple = named if self.positional is None else tuple(named[name] for name in self.positional)
        cursor = session.connection().connection.cursor()  # the session's connection: same transaction
        try:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
            assert row is not None, "INSERT … RETURNING id returns the row"
            return row[0]
        finally:
            cursor.close()


_STATEMENTS: dict[tuple[str, bool], _DriverStatement] = {}


def insert_row(session: Session, values: dict) -> OutboxRow:
    """Insert `values` as a pending row (or, with a coalesce key, upsert onto that key's pending row)."""
    dialect = session.get_bind().dialect
    upsert = values["coalesce_key"] is not None
    statement = _STATEMENTS.get((dialect.name, upsert))
    if statement is None:
        configure_mappers()  # _as_orm_row builds rows without __init__, which would otherwise do this
        statement = _STATEMENTS[(dialect.name, upsert)] = _DriverStatement(dialect, upsert)
    return _as_orm_row(session, statement.run(session, values), values)


def _as_orm_row(session: Session, row_id: int, values: dict) -> OutboxRow:
    """The row as a persistent object of the session, without another query (nor the attribute events of
    __init__, which cost as much as the insert). What a coalesced row kept from before (its due time,
    attempts, created_at) is loaded only if the caller looks at it."""
    mapper = OutboxRow.__mapper__
    existing = session.identity_map.get(mapper.identity_key_from_primary_key((row_id,)))
    row = existing if existing is not None else mapper.class_manager.new_instance()
    for key in ("kind", "coalesce_key", "payload", "state"):
        set_committed_value(row, key, values[key])
    if existing is None:
        set_committed_value(row, "id", row_id)
        make_transient_to_detached(row)  # the columns not set above are expired: loaded on access
        session.add(row)
    else:
        session.expire(row, ["updated_at"])
    return row


class _ManyStatement:
    """`INSERT … SELECT` from one JSON parameter holding every row, `ON CONFLICT` on the pending key as in
    `_DriverStatement`: one short statement whatever the number of rows (see bot.sql_sets)."""

    CELLS = ("kind", "coalesce_key", "payload", "next_attempt_at")

    def __init__(self, dialect, hasten: bool) -> None:
        module = postgresql if dialect.name == "postgresql" else sqlite
        rows = JsonSet(dialect.name, "rows", text_elements=False)
        kind, key, payload, due = rows.cells([TABLE.c[name].type for name in self.CELLS])
        now = bindparam("now", type_=TABLE.c.created_at.type)
        source = (select(kind, key, payload, literal("pending"), literal(0), due, now, now)
                  .select_from(rows.table).where(true()).order_by(rows.ordinal))  # WHERE: SQLite's upsert syntax
        stmt = module.insert(TABLE).from_select(list(COLUMNS), source)
        set_ = {"payload": stmt.excluded.payload, "kind": stmt.excluded.kind, "updated_at": stmt.excluded.updated_at}
        if hasten:
            # A row due now pulls an untried pending row of its key forward; one that has been tried keeps its
            # wait (a backoff or a rate limit's reset). See bot.integrations.github.checks.enqueue_check.
            set_["next_attempt_at"] = case(
                (and_(TABLE.c.attempts == 0, TABLE.c.next_attempt_at > stmt.excluded.next_attempt_at),
                 stmt.excluded.next_attempt_at), else_=TABLE.c.next_attempt_at)
        self.stmt = stmt.on_conflict_do_update(index_elements=[TABLE.c.coalesce_key],
                                               index_where=text("state = 'pending'"), set_=set_).returning(TABLE.c.id)
        bind = TABLE.c.next_attempt_at.type.dialect_impl(dialect).bind_processor(dialect)
        assert bind is not None, "UTCDateTime always converts (to UTC; naive text on SQLite)"
        self._bind_due = bind

    def _due(self, value: datetime) -> str:
        """The due time as the column's own bind processor leaves it (SQLite: its text), as a JSON cell."""
        bound = self._bind_due(value)
        return bound.isoformat() if isinstance(bound, datetime) else bound

    def run(self, session: Session, rows: list[dict]) -> list[int]:
        # What the ORM would bind, as JSON cells: the payload's JSON text, the due time as the column stores it.
        # A batch has a due time or two (now, now + its delay): each is converted once.
        dues = {due: self._due(due) for due in {row["next_attempt_at"] for row in rows}}
        cells = as_json([row["kind"], row["coalesce_key"], json.dumps(row["payload"]), dues[row["next_attempt_at"]]]
                        for row in rows)
        return list(session.execute(self.stmt, {"rows": cells, "now": rows[0]["created_at"]}).scalars())


_MANY: dict[tuple[str, bool], _ManyStatement] = {}


def upsert_rows(session: Session, rows: list[dict], hasten: bool = False) -> list[int]:
    """`insert_row` for many rows (all created now) in one statement; their keys must be distinct (fold them
    first). Returns the ids written. Objects of those rows already in the session are expired, so they read
    back what the statement stored."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    statement = _MANY.get((dialect.name, hasten))
    if statement is None:
        statement = _MANY[(dialect.name, hasten)] = _ManyStatement(dialect, hasten)
    ids = statement.run(session, rows)
    mapper = OutboxRow.__mapper__
    for row_id in ids:
        existing = session.identity_map.get(mapper.identity_key_from_primary_key((row_id,)))
        if existing is not None:
            session.expire(existing)
    return ids
