"""GitHub App integration: signed webhooks in, PR <-> story links, and the "within token budget" check out."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Imported here so `bot.schema` can import bot.github.models without pulling in Flask views.
    from bot.integrations.github import checks, client, sender, webhook  # noqa: F401 - sender registers
    from bot.ledger import events as hooks
    from bot.outbox import register_integration
    from bot.web.health import DETAILS

    settings = app.config["SETTINGS"]
    app.register_blueprint(webhook.bp)
    register_integration("github", client.is_configured)
    hooks.listen(hooks.SPEND_CHANGED)(checks.on_spend_changed)
    hooks.listen(hooks.BUDGET_CHANGED)(checks.on_budget_changed)
    DETAILS["github"] = lambda session: {
        "webhook_secret": settings.github_webhook_secret is not None,
        "app": "configured" if client.is_configured(settings) else "dry-run (no App id/private key)"}
