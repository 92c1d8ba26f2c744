"""`budgetbot digest --dry-run|--now` and `budgetbot alerts [--since 1d]`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app
from bot.durations import parse_duration

if TYPE_CHECKING:
    from flask import Flask


def parse_since(text: str) -> timedelta:
    """`30m`, `12h`, `1d`, `2w` -> timedelta (click.BadParameter on --since otherwise)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@click.command()
@click.option("--dry-run", "dry_run", is_flag=True, help="Print the Slack message and each Jira comment; send nothing.")
@click.option("--now", "now_", is_flag=True, help="Build today's digest now and enqueue it for the worker to send.")
@with_app
def digest(app: Flask, dry_run: bool, now_: bool) -> None:
    """Today's digest: Slack message with the burn-down chart, and a burn-down comment on each active story.

    Re-running it on the same day edits the same Slack message and the same Jira comments.
    """
    from bot.db import get_db
    from bot.reports import blocks
    from bot.reports.scrum.digest import run

    if dry_run == now_:
        raise click.UsageError("choose one: --dry-run (print it) or --now (send it)")
    settings = app.config["SETTINGS"]
    with get_db().transaction() as session:
        result = run(session, settings, send=now_)
    if now_:
        click.echo(f"digest {result.update_key} enqueued: 1 Slack message, {len(result.comments)} Jira comments; "
                   "the worker sends them (`budgetbot worker`)")
        return
    channel = settings.slack_channel or "(BUDGETBOT_SLACK_CHANNEL not set)"
    click.echo(f"Slack → {channel} (update key {result.update_key})")
    click.echo(blocks.slack_as_text(result.blocks))
    if result.chart_png:
        click.echo(f"[chart: {result.chart_title}, {len(result.chart_png):,} bytes PNG, in the message's thread]")
    for key, doc in result.comments:
        click.echo(f"\nJira comment on {key} (marker burndown, edited in place)")
        click.echo(blocks.doc_as_text(doc))


@click.command()
@click.option("--since", "since", default="1d", show_default=True, help="How far back: 30m, 12h, 1d, 2w.")
@with_app
def alerts(app: Flask, since: str) -> None:
    """List anomaly alerts (one per rule, subject and day)."""
    from sqlalchemy import select

    from bot.db import get_db, utcnow
    from bot.reports.scrum.tables import Alert

    start = utcnow() - parse_since(since)
    with get_db().session_factory() as session:
        found = session.scalars(select(Alert).where(Alert.created_at >= start).order_by(Alert.id)).all()
    if not found:
        click.echo(f"no alerts in the last {since}")
    for alert in found:
        story = f" [{alert.story_key}]" if alert.story_key else ""
        click.echo(f"{alert.created_at:%Y-%m-%d %H:%M}Z  {alert.rule:<13} {alert.subject}{story}\n    {alert.message}")


COMMANDS = (digest, alerts)
