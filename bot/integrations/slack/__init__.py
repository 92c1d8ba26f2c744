"""Slack: the `slack.message` outbox sender. The one package that imports slack_sdk (see sender.py)."""

from __future__ import annotations

from flask import Flask

KIND = "slack.message"


def is_configured(settings) -> bool:
    """Without a token every Slack send is a dry-run: the request is recorded on the outbox row."""
    return settings.slack_token is not None and bool(settings.slack_token.get_secret_value())


def init_app(app: Flask) -> None:
    from bot.integrations.slack import sender  # noqa: F401  (registers the sender)
    from bot.outbox import register_integration

    register_integration("slack", is_configured)
