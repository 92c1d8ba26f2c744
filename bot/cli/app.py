"""What every command that needs the app uses: build it from the environment, check the database is there and
migrated, and run inside the app's context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from flask import Flask


def load_app(schema: bool = True) -> Flask:
    """The app, or one clear line (and exit code 1) when the configuration or the database is not right."""
    # Flask, SQLAlchemy and the settings load here, when a command runs: `budgetbot --help` needs none of them.
    from bot.app import create_app
    from bot.config import ConfigError

    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if schema:
        from bot.db import get_db
        from bot.migrate import schema_problem

        problem = schema_problem(get_db(app).engine)
        if problem:
            get_db(app).dispose()
            raise click.ClickException(problem)
    return app


def with_app(command: Callable[..., Any] | None = None, *, schema: bool = True) -> Any:
    """Give the command a ready app (inside its app context) as its first argument. `schema=False` for the
    commands that work on a database not migrated yet (`db upgrade`)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            app = load_app(schema)
            with app.app_context():
                return fn(app, *args, **kwargs)

        return wrapper

    return decorate(command) if command is not None else decorate
