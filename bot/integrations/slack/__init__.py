"""Slack: the `slack.message` outbox sender. The one package that imports slack_sdk (see sender.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask


def is_configured(settings) -> bool:
    """Without a token every Slack send is a dry-run: the request is recorded on the outbox row."""
    return settings.slack_token is not None and bool(settings.slack_token.get_secret_value())


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.integrations.slack.sender import senders

    registry.add_integration("slack", is_configured, senders)


component = Component("slack", _init_app)
