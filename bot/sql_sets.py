"""A set of values, or of rows, sent to SQL as ONE JSON parameter and joined like a table.

`IN (:k1, …, :k500)` binds a parameter per value: for the 500 story keys of a batch, 500 placeholders that
SQLAlchemy renders and psycopg parses on every call (it caches only short queries), and a list PostgreSQL
plans blind. A multi-row VALUES insert is worse: a placeholder per cell. One JSON text makes one short
statement whatever the number of values (compiled once, cached by the driver), which both backends read
with a built-in: `json_each` on SQLite, `json_array_elements[_text]` on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, Integer, Select, Text, bindparam, cast, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


class JsonSet:
    """The rows of the JSON array bound as parameter `name`: `.table` to select from or join, `.value` (each
    element; for an array of strings, the string), `.ordinal` (its position, to keep the given order)."""

    def __init__(self, dialect_name: str, name: str, *, text_elements: bool = True) -> None:
        param = bindparam(name, type_=Text)
        self.postgresql = dialect_name == "postgresql"
        if self.postgresql:
            elements = func.json_array_elements_text if text_elements else func.json_array_elements
            self.table: TableValuedAlias = (elements(cast(param, JSON))
                                            .table_valued("value", with_ordinality="ordinal").render_derived(name))
            self.ordinal = self.table.c.ordinal
        else:
            self.table = func.json_each(param).table_valued("value", "key").alias(name)
            self.ordinal = self.table.c.key
        self.value = self.table.c.value

    @classmethod
    def of(cls, session: Session, name: str, *, text_elements: bool = True) -> JsonSet:
        return cls(session.get_bind().dialect.name, name, text_elements=text_elements)

    def restrict(self, query: Select, column) -> Select:
        """`query` kept to the rows whose `column` is one of the set's values (given without repeats), in the
        form each planner does well: PostgreSQL joins the set (a nested loop of index lookups on `column`);
        SQLite gets `IN (SELECT value …)`, which it runs as a lookup per value, where a join would let it
        scan another index of the table (the outbox's `state`) and the whole set for each row found."""
        if self.postgresql:
            return query.join(self.table, column == self.value)
        return query.where(column.in_(select(self.value).select_from(self.table)))

    def cells(self, types: Sequence[TypeEngine]) -> list[Any]:
        """For an array of arrays (`text_elements=False`): each position of an element, cast to its type (a
        JSON null is NULL). Cells travel as JSON: send what the column's bind processor would send."""
        if self.postgresql:
            return [cast(self.value.op("->>", return_type=Text)(literal_column(str(n), Integer)), type_)
                    for n, type_ in enumerate(types)]
        return [func.json_extract(self.value, f"$[{n}]", type_=type_) for n, type_ in enumerate(types)]


def as_json(values: Iterable) -> str:
    """The parameter of a `JsonSet`."""
    return json.dumps(list(values), separators=(",", ":"))
