"""Kill switches: `budgetbot breaker trip|clear|list` — a human stops agents now, preflight answers block."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from bot.cli.app import with_app
from bot.db import get_db, utcnow
from bot.guardrails.tables import Breaker
from bot.ledger.keys import InvalidStoryKey, normalize_key

SCOPES = ("all", "agent", "story", "run")


def _target(scope: str, target: str | None) -> str:
    if scope == "all":
        if target:
            raise click.UsageError("`all` takes no target")
        return ""
    if not target:
        raise click.UsageError(f"`{scope}` needs a target, e.g. `budgetbot breaker trip {scope} NAME`")
    if scope == "story":
        try:
            return normalize_key(target)
        except InvalidStoryKey as exc:
            raise click.UsageError(str(exc)) from None
    return target


@click.group()
def breaker() -> None:
    """Kill switches checked by POST /api/v1/preflight."""


@breaker.command("trip")
@click.argument("scope", type=click.Choice(SCOPES))
@click.argument("target", required=False)
@click.option("--reason", required=True, help="Why; shown to the agent and in `breaker list`.")
@click.option("--by", "tripped_by", help="Who tripped it (for the audit trail).")
@with_app
def trip(app: Flask, scope: str, target: str | None, reason: str, tripped_by: str | None) -> None:
    """Block preflight for SCOPE (all | agent NAME | story KEY | run ID) until cleared."""
    target = _target(scope, target)
    with get_db().transaction() as session:
        session.add(Breaker(scope=scope, target=target, reason=reason, tripped_by=tripped_by))
    click.echo(f"tripped: preflight now blocks {'everything' if scope == 'all' else f'{scope} {target}'}")


@breaker.command("clear")
@click.argument("scope", type=click.Choice(SCOPES))
@click.argument("target", required=False)
@with_app
def clear(app: Flask, scope: str, target: str | None) -> None:
    """Clear the kill switch on SCOPE [TARGET]."""
    target = _target(scope, target)
    with get_db().transaction() as session:
        active = list(session.scalars(select(Breaker).where(
            Breaker.scope == scope, Breaker.target == target, Breaker.cleared_at.is_(None))))
        for item in active:
            item.cleared_at = utcnow()
    if not active:
        raise click.ClickException(f"no tripped breaker on {scope} {target}".strip())
    click.echo(f"cleared {len(active)} breaker(s)")


@breaker.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include cleared breakers.")
@with_app
def list_breakers(app: Flask, show_all: bool) -> None:
    """List tripped (or, with --all, also cleared) breakers."""
    query = select(Breaker).order_by(Breaker.tripped_at)
    if not show_all:
        query = query.where(Breaker.cleared_at.is_(None))
    with get_db().session_factory() as session:
        rows = list(session.scalars(query))
    if not rows:
        click.echo("no breakers tripped")
    for row in rows:
        state = f"cleared {row.cleared_at:%Y-%m-%d %H:%M}" if row.cleared_at else "TRIPPED"
        who = f" by {row.tripped_by}" if row.tripped_by else ""
        click.echo(f"{row.label}\t{state}\ttripped {row.tripped_at:%Y-%m-%d %H:%M}{who}: {row.reason}")
