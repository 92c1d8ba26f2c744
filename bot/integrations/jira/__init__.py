"""Jira: "Token Budget" in (webhook, reconcile), "Token Spend" out and over-budget escalation (outbox senders)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Imports here, not at module level: `budgetbot --help` must not pay for loading the jira library.
    from bot.integrations.jira import escalation, fields, senders  # noqa: F401 - senders register on import
    from bot.integrations.jira.client import forget_clients, is_configured
    from bot.integrations.jira.webhook import bp
    from bot.ledger import events as hooks
    from bot.outbox import register_integration
    from bot.web.health import DETAILS

    register_integration("jira", is_configured)
    app.register_blueprint(bp)
    hooks.listen(hooks.SPEND_CHANGED)(escalation.on_spend_changed)
    hooks.listen(hooks.BUDGET_CHANGED)(escalation.on_budget_changed)
    fields.clear_cache()
    forget_clients()
    settings = app.config["SETTINGS"]
    if settings.jira_url:
        from apscheduler.triggers.interval import IntervalTrigger

        from bot.integrations.jira import reconcile
        from bot.processes.clock import register_job

        # A missed webhook never loses a budget: the clock reconciles with Jira every 15 minutes.
        register_job("jira-reconcile", reconcile.run, IntervalTrigger(minutes=15))
    mode = "off" if not settings.jira_url else ("ready" if is_configured(settings) else "dry-run (no credentials)")
    DETAILS["jira"] = lambda _session: {"mode": mode, "fields": fields.status()}
