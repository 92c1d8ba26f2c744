"""`budgetbot worker`, `budgetbot outbox list|show|retry|purge`, and `budgetbot run` (web + worker in one)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app
from bot.outbox.retry import redact

if TYPE_CHECKING:
    from flask import Flask

# bot.outbox.admin's states, repeated so `budgetbot --help` need not load SQLAlchemy for --state's choices (a test
# keeps the two equal); each command imports the database side when it runs.
STATES = ("pending", "sending", "done", "dead")


@click.command()
@click.option("--once", is_flag=True, help="Send what is due now, then exit (a failing row is tried once).")
@click.option("--name", help="Worker name in logs and leases (default: host:pid).")
@with_app
def worker(app: Flask, once: bool, name: str | None) -> None:
    """Send the outbox to Jira, GitHub and Slack: claim due rows, retry with backoff, dead-letter.

    Stops gracefully on SIGTERM or Ctrl-C (the row in hand is finished). Run several on PostgreSQL;
    on SQLite run one.
    """
    from bot.db import get_db
    from bot.outbox.worker import Worker, stop_on_signals

    runner = Worker(get_db(), app.config["SETTINGS"], name=name)
    if once:
        sent = runner.drain(retry_once=True)
        click.echo(f"sent {sent} row(s); retried {runner.counts['retried']}, dead {runner.counts['dead']}")
        return
    stop = threading.Event()
    stop_on_signals(stop)
    runner.run(stop)


@click.group()
def outbox() -> None:
    """The outbox of Jira, GitHub and Slack calls: list, show, re-drive dead rows, purge sent ones."""


@outbox.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only rows in this state.")
@click.option("--kind", help="Only rows of this kind, e.g. jira.comment.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Only rows sent in dry-run, with the requests recorded.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def outbox_list(app: Flask, state: str | None, kind: str | None, dry_run: bool, limit: int, as_json: bool) -> None:
    """List outbox rows, newest first."""
    from bot.db import get_db, utcnow
    from bot.outbox.admin import list_rows

    with get_db().session_factory() as session:
        rows = list_rows(session, state, kind, dry_run, limit)
    if as_json:
        click.echo(json.dumps([_as_dict(row) for row in rows], indent=2))
        return
    if not rows:
        click.echo("no outbox rows" + (" match" if state or kind or dry_run else ""))
        return
    now = utcnow()
    click.echo(f"{'ID':>6}  {'STATE':<8} {'KIND':<20} {'TRIES':>5}  {'WHEN':<18} KEY / LAST ERROR")
    for row in rows:
        when = _when(row, now)
        click.echo(f"{row.id:>6}  {row.state:<8} {row.kind:<20} {row.attempts:>5}  {when:<18} "
                   f"{row.coalesce_key or '-'}")
        if row.last_error and row.state != "done":
            click.echo(f"{'':>8}error: {redact(row.last_error)[:300]}")
        if dry_run:
            for request in row.dry_run_request or []:
                click.echo(f"{'':>8}{request['method']} {request['url']}")
                if request.get("json") is not None:
                    body = json.dumps(request["json"], indent=2, ensure_ascii=False)
                    click.echo("\n".join(f"{'':>10}{line}" for line in body.splitlines()))


@outbox.command("show")
@click.argument("row_id", metavar="ID", type=int)
@with_app
def outbox_show(app: Flask, row_id: int) -> None:
    """Everything about one row: payload, attempts, last error, recorded dry-run requests, result."""
    from bot.db import get_db
    from bot.outbox.tables import OutboxRow

    with get_db().session_factory() as session:
        row = session.get(OutboxRow, row_id)
        if row is None:
            raise click.ClickException(f"no outbox row {row_id}")
        click.echo(json.dumps(_as_dict(row), indent=2, ensure_ascii=False))


@outbox.command("retry")
@click.argument("row_ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--dead", "all_dead", is_flag=True, help="Re-drive every dead row.")
@with_app
def outbox_retry(app: Flask, row_ids: tuple[int, ...], all_dead: bool) -> None:
    """Re-drive dead rows: pending again, due now, with a fresh try count. Give IDs or --dead."""
    from sqlalchemy import select

    from bot.db import get_db
    from bot.outbox.admin import retry_dead
    from bot.outbox.tables import OutboxRow

    if bool(row_ids) == all_dead:
        raise click.ClickException("give the ID(s) of dead rows, or --dead for all of them (not both)")
    with get_db().transaction() as session:
        if row_ids:
            states = dict(session.execute(select(OutboxRow.id, OutboxRow.state).where(OutboxRow.id.in_(row_ids))).all())
            for row_id in row_ids:
                if row_id not in states:
                    raise click.ClickException(f"no outbox row {row_id}")
                if states[row_id] != "dead":
                    raise click.ClickException(f"outbox row {row_id} is {states[row_id]}, not dead: nothing to retry")
        outcome = retry_dead(session, list(row_ids) if row_ids else None)
    for old, newer in sorted(outcome.superseded.items()):
        click.echo(f"row {old} left dead: row {newer} has the same coalesce key and a newer payload")
    ids = ", ".join(str(i) for i in sorted(outcome.redriven))
    click.echo(f"re-driven {len(outcome.redriven)} dead row(s)" + (f": {ids}" if ids else ""))


@outbox.command("purge")
@click.option("--done", "done", is_flag=True, help="Purge sent rows (required: dead rows are never purged).")
@click.option("--older-than", "older_than", default="7d", show_default=True,
              help="Age since the row was sent: 7d, 12h, 30m, 2w.")
@with_app
def outbox_purge(app: Flask, done: bool, older_than: str) -> None:
    """Delete sent rows older than --older-than. Dead rows are kept until re-driven."""
    from bot.db import get_db
    from bot.outbox.admin import parse_age, purge_done

    if not done:
        raise click.ClickException("say what to purge: --done (sent rows); dead rows are never purged")
    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    with get_db().transaction() as session:
        purged = purge_done(session, age)
    click.echo(f"purged {purged} sent row(s) older than {older_than}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--production", is_flag=True,
              help="Serve as the Procfile does (waitress) instead of the development server.")
@click.option("--only", multiple=True, help="Start only these processes (repeatable), e.g. --only worker.")
@with_app
def run(app: Flask, host: str, port: int, production: bool, only: tuple[str, ...]) -> None:
    """Run web and worker (and the clock, when installed) in one terminal, for development. Ctrl-C stops all."""
    from bot.components import registry
    from bot.processes.supervisor import RunOptions, Supervisor, banner, follow_port

    processes = registry(app).processes
    unknown = sorted(set(only) - processes.keys())
    if unknown:
        raise click.ClickException(f"unknown process(es) {', '.join(unknown)}; known: {', '.join(processes)}")
    follow_port(app.config["SETTINGS"], host, port)
    options = RunOptions(host, port, production)
    commands = {name: argv(options) for name, argv in processes.items() if not only or name in only}
    log = logging.getLogger("bot.run")
    settings = app.config["SETTINGS"]
    for line in banner(settings, registry(app).dry_run_integrations(settings)):
        log.warning(line) if line.startswith("DRY-RUN") else log.info(line)
    log.info("starting %s; web on http://%s:%s", ", ".join(commands), host, port)
    supervisor = Supervisor(commands, out=lambda line: click.echo(line))
    supervisor.handle_signals()
    code = supervisor.run()
    if code:
        raise SystemExit(code)


def _when(row, now: datetime) -> str:
    if row.state == "pending":
        seconds = (row.next_attempt_at - now).total_seconds()
        return "due now" if seconds <= 0 else f"due in {_span(seconds)}"
    if row.state == "sending":
        return f"lease {_span(max((row.lease_until - now).total_seconds(), 0))}" if row.lease_until else "sending"
    return f"{_span((now - row.finished_at).total_seconds())} ago" if row.finished_at else "-"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _as_dict(row) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {"id": row.id, "kind": row.kind, "state": row.state, "coalesce_key": row.coalesce_key,
            "attempts": row.attempts, "rate_limited": row.rate_limited, "next_attempt_at": iso(row.next_attempt_at),
            "lease_until": iso(row.lease_until), "last_error": redact(row.last_error) if row.last_error else None,
            "created_at": iso(row.created_at), "finished_at": iso(row.finished_at),
            "payload": row.payload, "dry_run_requests": row.dry_run_request, "result": row.result}

