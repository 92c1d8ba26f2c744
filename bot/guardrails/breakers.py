"""Kill switches: `budgetbot breaker trip|clear|list` — a human stops agents now, preflight answers block."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask

# bot.guardrails.breaker_store's scopes, repeated so `budgetbot --help` need not load SQLAlchemy for the SCOPE
# choices (a test keeps the two equal); each command imports the store when it runs.
SCOPES = ("all", "agent", "story", "run")


@click.group()
def breaker() -> None:
    """Kill switches checked by POST /api/v1/preflight (also GET/POST/DELETE /api/v1/breakers)."""


@breaker.command("trip")
@click.argument("scope", type=click.Choice(SCOPES))
@click.argument("target", required=False)
@click.option("--reason", required=True, help="Why; shown to the agent and in `breaker list`.")
@click.option("--by", "tripped_by", help="Who tripped it (for the audit trail).")
@with_app
def trip(app: Flask, scope: str, target: str | None, reason: str, tripped_by: str | None) -> None:
    """Block preflight for SCOPE (all | agent NAME | story KEY | run ID) until cleared."""
    from bot.db import get_db
    from bot.guardrails import breaker_store as store

    try:
        with get_db().transaction() as session:
            tripped = store.trip(session, scope, target, reason, tripped_by)
            label, since, by = tripped.breaker.label, tripped.breaker.tripped_at, tripped.breaker.tripped_by
    except store.BreakerError as exc:
        raise click.UsageError(str(exc)) from None
    if not tripped.created:
        click.echo(f"already tripped: {label} since {since:%Y-%m-%d %H:%M}{f' by {by}' if by else ''} (one breaker)")
        return
    click.echo(f"tripped: preflight now blocks {label}")


@breaker.command("clear")
@click.argument("scope", type=click.Choice(SCOPES))
@click.argument("target", required=False)
@click.option("--by", "cleared_by", help="Who cleared it (for the audit trail).")
@with_app
def clear(app: Flask, scope: str, target: str | None, cleared_by: str | None) -> None:
    """Clear the kill switch on SCOPE [TARGET] (`breaker clear all` clears the one on everything)."""
    from bot.db import get_db
    from bot.guardrails import breaker_store as store

    try:
        with get_db().transaction() as session:
            cleared = store.clear(session, scope, target, cleared_by)
    except store.BreakerError as exc:
        if exc.field == "target" and str(exc).startswith("no tripped"):
            raise click.ClickException(str(exc)) from None
        raise click.UsageError(str(exc)) from None
    click.echo(f"cleared {len(cleared)} breaker(s)")


@breaker.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include cleared breakers.")
@with_app
def list_breakers(app: Flask, show_all: bool) -> None:
    """List tripped (or, with --all, also cleared) breakers."""
    from bot.db import get_db
    from bot.guardrails import breaker_store as store

    with get_db().session_factory() as session:
        rows = store.listing(session, show_all)
    if not rows:
        click.echo("no breakers tripped")
    for row in rows:
        state = "TRIPPED"
        if row.cleared_at:
            state = f"cleared {row.cleared_at:%Y-%m-%d %H:%M}" + (f" by {row.cleared_by}" if row.cleared_by else "")
        who = f" by {row.tripped_by}" if row.tripped_by else ""
        click.echo(f"#{row.id}\t{row.label}\t{state}\ttripped {row.tripped_at:%Y-%m-%d %H:%M}{who}: {row.reason}")
