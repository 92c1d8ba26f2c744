"""GitHub App integration: signed webhooks in, PR <-> story links, and the "within token budget" check out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask


def _init_app(app: Flask, registry: Registry) -> None:
    # Imported here, not at module level: `budgetbot --help` must not pay for loading PyGithub.
    from bot.integrations.github import checks, client, sender, webhook
    from bot.ledger.events import BUDGET_CHANGED, SPEND_CHANGED

    settings = app.config["SETTINGS"]
    app.register_blueprint(webhook.bp)
    registry.add_integration("github", client.is_configured, sender.senders)
    registry.events.listen(SPEND_CHANGED, checks.on_spend_changed)
    registry.events.listen(BUDGET_CHANGED, checks.on_budget_changed)
    registry.health["github"] = lambda session: {
        "webhook_secret": settings.github_webhook_secret is not None,
        "app": "configured" if client.is_configured(settings) else "dry-run (no App id/private key)"}


def _commands():
    from bot.integrations.github.cli import github
    from bot.integrations.github.replay import replay

    github.add_command(replay)  # a trial without a tunnel: replay a recorded delivery to the local app
    return [github]


component = Component("github", _init_app, _commands)
