"""`budgetbot user add|list|remove|password`: the people who may log in to the dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask

# bot.web.users' roles, repeated so `budgetbot --help` need not load SQLAlchemy and werkzeug for --role's
# choices (a test keeps the two equal); the commands import the database side when they run.
ROLES = ("viewer", "admin")


def _password(given: str | None) -> str:
    # Prompted (hidden, twice) unless given: a password on the command line ends up in shell history.
    return given if given is not None else click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group("user")
def user_group() -> None:
    """Dashboard users (viewers read; admins also retry outbox rows, trip breakers, approve overruns)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password", envvar="BUDGETBOT_NEW_PASSWORD", help="Default: prompted (or $BUDGETBOT_NEW_PASSWORD).")
@with_app
def add(app: Flask, name: str, role: str, password: str | None) -> None:
    """Add a user who can log in to the dashboard."""
    from bot.db import get_db
    from bot.web.users import UserError, create_user

    try:
        with get_db().transaction() as session:
            create_user(session, name, _password(password), role)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {role} {name}")


@user_group.command("list")
@with_app
def list_command(app: Flask) -> None:
    """List dashboard users and their roles."""
    from bot.db import get_db
    from bot.web.users import list_users

    with get_db().session_factory() as session:
        users = list_users(session)
    if not users:
        click.echo("no users yet: budgetbot user add NAME --role admin")
    for user in users:
        click.echo(f"{user.name}\t{user.role}\tadded {user.created_at:%Y-%m-%d}")


@user_group.command("remove")
@click.argument("name")
@with_app
def remove(app: Flask, name: str) -> None:
    """Remove a user; their open sessions end at their next request."""
    from bot.db import get_db
    from bot.web.users import UserError, remove_user

    try:
        with get_db().transaction() as session:
            remove_user(session, name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed {name}")


@user_group.command("password")
@click.argument("name")
@click.option("--password", envvar="BUDGETBOT_NEW_PASSWORD", help="Default: prompted (or $BUDGETBOT_NEW_PASSWORD).")
@with_app
def password_command(app: Flask, name: str, password: str | None) -> None:
    """Set a new password; sessions logged in with the old one end."""
    from bot.db import get_db
    from bot.web.users import UserError, set_password

    try:
        with get_db().transaction() as session:
            set_password(session, name, _password(password))
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {name} changed")
