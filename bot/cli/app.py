"""What every command that needs the app uses: build it from the environment, and run inside its context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from flask import Flask

from bot.config import ConfigError


def load_app() -> Flask:
    from bot.app import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def with_app(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give the command a ready app (inside its app context) as its first argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = load_app()
        with app.app_context():
            return command(app, *args, **kwargs)

    return wrapper
