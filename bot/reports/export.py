"""The finance export: ledger rows or grouped sums as CSV or JSON Lines for chargeback, streamed in constant memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import case, create_engine, func, literal_column, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.ledger.days import counted
from bot.ledger.keys import project_of
from bot.ledger.tables import UsageEvent as E
from bot.reports.retro.period import Period
from bot.reports.retro.shape import usd

GROUPS = ("story", "team", "cost_center", "agent", "model", "day")
BATCH = 2000  # rows fetched per round trip; the server-side cursor keeps the rest
RAW_FIELDS = ("event_id", "occurred_at", "story", "project", "team", "cost_center", "agent", "model", "provider",
              "run_id", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
              "reasoning_tokens", "tool_calls", "usd", "priced", "price_source", "outcome", "latency_ms",
              "attributes")
SUM_FIELDS = ("events", "unpriced_events", "input_tokens", "output_tokens", "cache_read_tokens",
              "cache_write_tokens", "reasoning_tokens", "tokens", "usd")


@contextmanager
def reading_session(engine: Engine) -> Iterator[Session]:
    """A read-only session for a long export. The app's SQLite engine opens every transaction with BEGIN
    IMMEDIATE (the write lock); an export must not hold ingest off for minutes, so on SQLite it reads
    through a plain engine (in WAL mode a reader never blocks a writer)."""
    own = create_engine(engine.url, connect_args={"timeout": 30}) if engine.dialect.name == "sqlite" else None
    try:
        with Session(own or engine) as session, session.begin():  # PostgreSQL: server-side cursors need one
            yield session
    finally:
        if own is not None:
            own.dispose()


def attribute(session: Session, name: str):
    """`attributes[name]` as text. A literal key, not a bound parameter: PostgreSQL must see the same
    expression in SELECT and GROUP BY."""
    if session.get_bind().dialect.name == "postgresql":
        return E.attributes.op("->>")(literal_column(f"'{name}'"))
    return func.json_extract(E.attributes, literal_column(f"'$.{name}'"))


def day_of(session: Session):
    """The UTC day of an event (the export's `day`, as documented; the retro counts the team's days)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'UTC'"), E.occurred_at))
    return func.date(E.occurred_at)


def in_period(period: Period, project: str | None) -> list:
    conditions = [E.occurred_at >= period.start, E.occurred_at < period.end, counted()]
    if project:
        conditions.append(E.story_key.startswith(f"{project}-", autoescape=True))
    return conditions


def _stream(session: Session, stmt):
    # yield_per implies stream_results: a server-side cursor on PostgreSQL, a lazily stepped cursor on SQLite.
    return session.execute(stmt, execution_options={"yield_per": BATCH})


def raw_rows(session: Session, period: Period, project: str | None = None) -> Iterator[dict]:
    """Every event in the period, oldest first. `usd` is empty for an unpriced event (unknown, not $0)."""
    columns = (E.event_id, E.occurred_at, E.story_key, attribute(session, "team"), attribute(session, "cost_center"),
               E.agent, E.model, E.provider, E.run_id, E.input_tokens, E.output_tokens, E.cache_read_tokens,
               E.cache_write_tokens, E.reasoning_tokens, E.tool_calls, E.cost_nano_usd, E.priced, E.price_source,
               E.outcome, E.latency_ms, E.attributes)
    stmt = select(*columns).where(*in_period(period, project)).order_by(E.occurred_at, E.id)
    for row in _stream(session, stmt):
        (event_id, occurred, story, team, cost_center, agent, model, provider, run_id, inp, out, read, write,
         reasoning, tools, nano, priced, source, outcome, latency, attributes) = row
        yield {"event_id": event_id, "occurred_at": occurred.isoformat().replace("+00:00", "Z"), "story": story,
               "project": project_of(story) if story else None, "team": _text(team),
               "cost_center": _text(cost_center), "agent": agent, "model": model, "provider": provider,
               "run_id": run_id, "input_tokens": inp, "output_tokens": out, "cache_read_tokens": read,
               "cache_write_tokens": write, "reasoning_tokens": reasoning, "tool_calls": tools,
               "usd": usd(nano) if priced else None, "priced": priced, "price_source": source,
               "outcome": outcome, "latency_ms": latency, "attributes": attributes or {}}


def grouped_rows(session: Session, period: Period, group_by: str, project: str | None = None) -> Iterator[dict]:
    """Sums per story, team, cost_center, agent, model or UTC day. `usd` sums priced events; it is empty
    when every event of the group is unpriced, and `unpriced_events` says how many it leaves out."""
    key = {"story": E.story_key, "agent": E.agent, "model": E.model, "day": day_of(session),
           "team": attribute(session, "team"), "cost_center": attribute(session, "cost_center")}[group_by]
    unpriced = func.sum(case((E.priced.is_(False), 1), else_=0))
    stmt = (select(key, func.count(), unpriced, func.sum(E.input_tokens), func.sum(E.output_tokens),
                   func.sum(E.cache_read_tokens), func.sum(E.cache_write_tokens), func.sum(E.reasoning_tokens),
                   func.sum(E.cost_nano_usd))
            .where(*in_period(period, project)).group_by(key).order_by(key))
    for value, events, n_unpriced, inp, out, read, write, reasoning, nano in _stream(session, stmt):
        yield {group_by: _text(value), "events": events, "unpriced_events": int(n_unpriced),
               "input_tokens": int(inp), "output_tokens": int(out), "cache_read_tokens": int(read),
               "cache_write_tokens": int(write), "reasoning_tokens": int(reasoning), "tokens": int(inp + out),
               "usd": None if n_unpriced == events else usd(int(nano))}


def as_jsonl(rows: Iterator[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def as_csv(rows: Iterator[dict], fields: tuple[str, ...]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if "attributes" in row:
            row = {**row, "attributes": json.dumps(row["attributes"], ensure_ascii=False, sort_keys=True)}
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def export_lines(session: Session, period: Period, fmt: str, group_by: str | None = None,
                 project: str | None = None) -> Iterator[str]:
    """The export, line by line (a generator: nothing is held beyond the current batch)."""
    fields: tuple[str, ...]
    if group_by:
        rows, fields = grouped_rows(session, period, group_by, project), (group_by, *SUM_FIELDS)
    else:
        rows, fields = raw_rows(session, period, project), RAW_FIELDS
    return as_jsonl(rows) if fmt == "jsonl" else as_csv(rows, fields)


def _text(value) -> str | None:
    return None if value is None else str(value)
