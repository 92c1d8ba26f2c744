"""`budgetbot sprint add|edit|remove|list`: sprints by dates, for teams without Jira (Jira's come by themselves)."""

from __future__ import annotations

from datetime import time, timedelta
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group()
def sprint() -> None:
    """Sprints (from Jira, or defined here by dates for teams without Jira).

    A sprint defined here is active from its first day to its last (inclusive, UTC): the digest, the
    alerts' daily budget and `budgetbot retro --sprint NAME` use it. Names are matched whatever their case.
    """


def _run(fn, *args, **kwargs):
    from bot.db import get_db
    from bot.ledger.sprints import SprintError

    try:
        with get_db().transaction() as session:
            return fn(session, *args, **kwargs)
    except SprintError as exc:
        raise click.ClickException(str(exc)) from None


def _dates(item) -> str:
    if item.start_at is None or item.end_at is None:
        return "no dates"
    if item.start_at.time() != time(0) or item.end_at.time() != time(0):
        return f"{item.start_at:%Y-%m-%d %H:%M} to {item.end_at:%Y-%m-%d %H:%M} UTC"
    return f"{item.start_at:%a %Y-%m-%d} to {item.end_at - timedelta(microseconds=1):%a %Y-%m-%d}"


@sprint.command("add")
@click.argument("name")
@click.option("--start", required=True, metavar="DATE", help="First day (YYYY-MM-DD, UTC).")
@click.option("--end", required=True, metavar="DATE", help="Last day, inclusive (YYYY-MM-DD).")
@with_app
def sprint_add(app: Flask, name: str, start: str, end: str) -> None:
    """Define sprint NAME from its first to its last day; overlapping another sprint is refused."""
    from bot.ledger import sprints

    added = _run(sprints.add, name, start, end)
    click.echo(f"sprint {added.name!r}: {_dates(added)}")


@sprint.command("edit")
@click.argument("name")
@click.option("--name", "new_name", metavar="NEW", help="Rename it (its stories follow).")
@click.option("--start", metavar="DATE", help="New first day (YYYY-MM-DD).")
@click.option("--end", metavar="DATE", help="New last day, inclusive (YYYY-MM-DD).")
@with_app
def sprint_edit(app: Flask, name: str, new_name: str | None, start: str | None, end: str | None) -> None:
    """Change sprint NAME's name or dates."""
    from bot.ledger import sprints

    if not (new_name or start or end):
        raise click.ClickException("give --name, --start or --end")
    edited = _run(sprints.edit, name, new_name=new_name, start_text=start, end_text=end)
    click.echo(f"sprint {edited.name!r}: {_dates(edited)}")


@sprint.command("remove")
@click.argument("name")
@with_app
def sprint_remove(app: Flask, name: str) -> None:
    """Delete sprint NAME; its stories keep their budgets and spend."""
    from bot.ledger import sprints

    removed, stories = _run(sprints.remove, name)
    click.echo(f"sprint {removed.name!r} removed; {stories} stor{'y' if stories == 1 else 'ies'} left without a sprint")


@sprint.command("list")
@with_app
def sprint_list(app: Flask) -> None:
    """List sprints, newest first."""
    from sqlalchemy import select

    from bot.db import get_db, utcnow
    from bot.ledger.sprints import state_of
    from bot.ledger.tables import Sprint

    with get_db().session_factory() as session:
        rows = session.scalars(select(Sprint).order_by(Sprint.start_at.desc().nulls_last(), Sprint.name)).all()
    if not rows:
        click.echo("no sprints; add one with `budgetbot sprint add NAME --start DATE --end DATE`")
    now = utcnow()
    for item in rows:
        source = "jira" if item.jira_sprint_id else "dates"
        click.echo(f"{item.name}\t{state_of(item, now)}\t{_dates(item)}\t{source}")


COMMANDS = [sprint]
