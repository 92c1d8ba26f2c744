"""`budgetbot story set` (the fields Jira would set, for teams without Jira) and `budgetbot stories` (a listing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask

STATUSES = ("no_budget", "ok", "warning", "over", "overridden")


@click.group()
def story() -> None:
    """One story's fields (for teams without Jira)."""


@story.command("set")
@click.argument("key")
@click.option("--summary", help="One line saying what the story is.")
@click.option("--sprint", metavar="NAME", help="The sprint it belongs to (see `budgetbot sprint list`); '' clears.")
@click.option("--points", type=click.FloatRange(0, 1000), help="Story points.")
@click.option("--assignee", help="Who works on it ('' clears).")
@click.option("--resolved/--reopen", default=None, help="Mark it done (today), or open again.")
@with_app
def story_set(app: Flask, key: str, summary: str | None, sprint: str | None, points: float | None,
              assignee: str | None, resolved: bool | None) -> None:
    """Set the fields Jira would set on KEY: summary, sprint, points, assignee, resolved.

    With Jira configured (BUDGETBOT_JIRA_URL), Jira wins: its next update of KEY replaces these fields.
    The same as PUT /api/v1/stories/KEY.

    \b
    budgetbot story set PROJ-1 --summary "Login page" --sprint "Sprint 42" --points 3 --assignee ana
    budgetbot story set PROJ-1 --resolved
    """
    from bot.db import get_db
    from bot.ledger import story_fields
    from bot.ledger.keys import InvalidStoryKey, normalize_key

    values = {name: value for name, value in (("summary", summary), ("sprint", sprint), ("points", points),
                                              ("assignee", assignee), ("resolved", resolved)) if value is not None}
    if not values:
        raise click.ClickException("give at least one of --summary, --sprint, --points, --assignee, "
                                   "--resolved/--reopen")
    try:
        key = normalize_key(key)
        with get_db().transaction() as session:
            updated = story_fields.update(session, key, values)
            line = _line(updated, app.config["SETTINGS"].warn_threshold)
    except InvalidStoryKey as exc:
        raise click.ClickException(str(exc)) from None
    except story_fields.FieldError as exc:
        raise click.ClickException(f"--{exc.field}: {exc.message}") from None
    click.echo(line)
    if app.config["SETTINGS"].jira_url:
        click.echo(f"note: Jira is configured; its next update of {key} replaces these fields", err=True)


@click.command("stories")
@click.option("--sprint", metavar="NAME", help="Only this sprint's stories.")
@click.option("--status", type=click.Choice(STATUSES), help="Only stories with this status.")
@with_app
def stories(app: Flask, sprint: str | None, status: str | None) -> None:
    """List stories: status, spend against budget, sprint, points and assignee."""
    from sqlalchemy import select

    from bot.db import get_db
    from bot.ledger import sprints
    from bot.ledger.tables import Story

    warn = app.config["SETTINGS"].warn_threshold
    with get_db().session_factory() as session:
        query = select(Story).where(Story.deleted.is_(False)).order_by(Story.key)
        if sprint:
            found = sprints.find(session, sprint)
            if found is None:
                raise click.ClickException(f"--sprint: no sprint named {sprint!r} (see `budgetbot sprint list`)")
            query = query.where(Story.sprint == found.name)
        lines = [_line(s, warn) for s in session.scalars(query) if not status or _status(s, warn) == status]
    if not lines:
        click.echo("no stories" + (" match" if sprint or status else
                                   "; set a budget with `budgetbot budget set KEY 200k` or send usage"))
    for line in lines:
        click.echo(line)


def _status(item, warn) -> str:
    from bot.ledger.ingest import judge_story

    return judge_story(item, warn).status.value


def _line(item, warn) -> str:
    """KEY  STATUS  spent/budget  sprint  points  assignee  summary — tab-separated for `cut` and `sort`."""
    from bot.ledger.budgets import nano_to_usd

    # No thousands separator on purpose: the lines are tab-separated for `cut` and `sort`.
    def money(nano):
        return "-" if nano is None else f"${nano_to_usd(nano):.2f}"

    tokens = f"{item.spent_tokens:,}/{'-' if item.budget_tokens is None else f'{item.budget_tokens:,}'} tokens"
    usd = f"{money(item.spent_nano_usd)}/{money(item.budget_nano_usd)}"
    done = "resolved" if item.resolved_at else ""
    points = "" if item.story_points is None else f"{item.story_points:g} pts"
    return "\t".join([item.key, _status(item, warn).upper(), tokens, usd, item.sprint or "", points,
                      item.assignee or "", done, item.summary or ""]).rstrip("\t")


COMMANDS = [story, stories]
