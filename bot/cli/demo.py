"""`budgetbot demo`: seed a realistic sprint into the configured database (refused if it holds data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask


@click.command()
@click.option("--force", is_flag=True, help="Seed even though the database already holds stories or usage.")
@with_app
def demo(app: Flask, force: bool) -> None:
    """Seed a sprint to look at: a dozen stories with budgets, five agents (one on an unpriced self-hosted model),
    a runaway loop, a story over budget, one overridden, two past sprints for the trend.

    Everything goes through the real ingest, so every rollup is what real usage would give. Then try
    `budgetbot stories`, `budgetbot digest --dry-run`, `budgetbot retro --sprint "Sprint 43"` and the dashboard.
    """
    from bot.app_pricer import get_pricer
    from bot.db import get_db, utcnow
    from bot.demo import DemoRefused, seed

    try:
        with get_db().transaction() as session:
            made = seed(session, get_pricer(), app.config["SETTINGS"].warn_threshold, utcnow(), force=force)
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    current = made["sprints"][-1]
    click.echo(f"seeded {made['stories']} stories, {made['events']:,} usage events and sprints "
               f"{', '.join(made['sprints'])} ({current} is under way)")
    click.echo("next: budgetbot stories --sprint '" + current + "' · budgetbot digest --dry-run · "
               f"budgetbot retro --sprint '{current}' · {app.config['SETTINGS'].public_url.rstrip('/')}/")


COMMANDS = [demo]
