"""`budget approve|revoke` (a story's overrun accepted, or no longer) and `event void` (a wrong usage event)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app
from bot.cli.core import budget

if TYPE_CHECKING:
    from flask import Flask


@budget.command("approve")
@click.argument("key")
@click.option("--by", "by", required=True, help="Who accepts the overrun (recorded).")
@click.option("--reason", required=True, help="Why (recorded).")
@with_app
def budget_approve(app: Flask, key: str, by: str, reason: str) -> None:
    """Accept KEY's overrun: it is `overridden`, not `over`, in every answer, check and report."""
    from bot.db import get_db
    from bot.ledger import approvals
    from bot.ledger.keys import InvalidStoryKey, normalize_key

    try:
        key = normalize_key(key)
    except InvalidStoryKey as exc:
        raise click.ClickException(str(exc)) from None
    with get_db().transaction() as session:
        approvals.approve(session, key, by, reason, "cli", app.config["SETTINGS"].warn_threshold)
    click.echo(f"{key}: overrun approved by {by}")


@budget.command("revoke")
@click.argument("key")
@click.option("--by", "by", required=True, help="Who revokes the approval (recorded).")
@click.option("--reason", required=True, help="Why (recorded).")
@with_app
def budget_revoke(app: Flask, key: str, by: str, reason: str) -> None:
    """Revoke the approval of KEY's overrun: it is judged `over` again while over."""
    from bot.db import get_db
    from bot.ledger import approvals
    from bot.ledger.keys import InvalidStoryKey, normalize_key

    try:
        key = normalize_key(key)
    except InvalidStoryKey as exc:
        raise click.ClickException(str(exc)) from None
    with get_db().transaction() as session:
        count = approvals.revoke(session, key, by, reason, app.config["SETTINGS"].warn_threshold)
    if not count:
        raise click.ClickException(f"{key} has no standing approval to revoke")
    click.echo(f"{key}: approval revoked by {by}")


@click.group("event")
def event_group() -> None:
    """Usage events in the ledger."""


@event_group.command("void")
@click.argument("event_id")
@click.option("--reason", required=True, help="Why the event must not count (recorded).")
@click.option("--by", "by", default="cli", show_default=True, help="Who voids it (recorded).")
@with_app
def event_void(app: Flask, event_id: str, reason: str, by: str) -> None:
    """Void EVENT_ID: it stays in the ledger but no total, rollup, rebuild or report counts it."""
    from bot.db import get_db
    from bot.ledger.voids import VoidError, void_event

    try:
        with get_db().transaction() as session:
            done = void_event(session, event_id, by, reason, app.config["SETTINGS"].warn_threshold)
            story = done.event.story_key
    except VoidError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"event {event_id} voided by {by}" + (f"; {story} no longer counts it" if story else ""))
