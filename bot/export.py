"""`budgetbot export`: ledger rows or grouped sums as CSV or JSON Lines for chargeback, streamed in constant memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import case, create_engine, func, select
from sqlalchemy.orm import Session

from bot.cli import with_app
from bot.keys import project_of
from bot.models import UsageEvent as E
from bot.retro.period import Period
from bot.retro.queries import attribute, day_of, in_period
from bot.retro.shape import usd

GROUPS = ("story", "team", "cost_center", "agent", "model", "day")
BATCH = 2000  # rows fetched per round trip; the server-side cursor keeps the rest
RAW_FIELDS = ("event_id", "occurred_at", "story", "project", "team", "cost_center", "agent", "model", "provider",
              "run_id", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
              "reasoning_tokens", "tool_calls", "usd", "priced", "price_source", "outcome", "latency_ms",
              "attributes")
SUM_FIELDS = ("events", "unpriced_events", "input_tokens", "output_tokens", "cache_read_tokens",
              "cache_write_tokens", "reasoning_tokens", "tokens", "usd")


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
    if group_by:
        rows, fields = grouped_rows(session, period, group_by, project), (group_by, *SUM_FIELDS)
    else:
        rows, fields = raw_rows(session, period, project), RAW_FIELDS
    return as_jsonl(rows) if fmt == "jsonl" else as_csv(rows, fields)


def _text(value) -> str | None:
    return None if value is None else str(value)


@click.command("export")
@click.option("--from", "start", required=True, metavar="DATE", help="First day (UTC, YYYY-MM-DD).")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option("--format", "fmt", type=click.Choice(("csv", "jsonl")), default="csv", show_default=True)
@click.option("--group-by", type=click.Choice(GROUPS), help="Sum per this instead of one line per event.")
@click.option("--project", metavar="KEY", help="Only this Jira project's stories.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@with_app
def export(app: Flask, start: str, end: str, fmt: str, group_by: str | None, project: str | None,
           out: Path | None) -> None:
    """Ledger rows, or sums per story/team/cost center/agent/model/day, for finance's chargeback.
    Streamed: any size, constant memory.

    \b
    budgetbot export --from 2026-03-01 --to 2026-03-31 --group-by cost_center > march.csv
    budgetbot export --from 2026-03-01 --to 2026-03-31 --format jsonl --out march.jsonl
    """
    from bot.db import get_db
    from bot.retro.period import PeriodError, date_range

    try:
        period = date_range(start, end)
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from None
    stream = out.open("w", encoding="utf-8", newline="") if out else click.get_text_stream("stdout")
    engine = get_db().engine
    if engine.dialect.name == "sqlite":
        # The app's SQLite engine opens every transaction with BEGIN IMMEDIATE (the write lock); a long
        # export must not hold ingest off, so it reads on a plain engine (WAL readers never block writers).
        engine = create_engine(engine.url, connect_args={"timeout": 30})
    try:
        with Session(engine) as session, session.begin():
            for line in export_lines(session, period, fmt, group_by, project.upper() if project else None):
                stream.write(line)
    finally:
        if out:
            stream.close()
        if engine is not get_db().engine:
            engine.dispose()
    if out:
        click.echo(f"wrote {out}", err=True)
