"""Jira: "Token Budget" in (webhook, reconcile), "Token Spend" out and over-budget escalation (outbox senders)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask


def _init_app(app: Flask, registry: Registry) -> None:
    # Imports here, not at module level: `budgetbot --help` must not pay for loading the jira library.
    from bot.integrations.jira import escalation, field_copy, fields, senders
    from bot.integrations.jira.client import forget_clients, is_configured
    from bot.integrations.jira.webhook import bp
    from bot.ledger.events import BUDGET_CHANGED, SPEND_CHANGED

    registry.add_integration("jira", is_configured, senders.senders)
    registry.add_senders(field_copy.senders)
    app.register_blueprint(bp)
    registry.events.listen(SPEND_CHANGED, escalation.on_spend_changed)
    registry.events.listen(BUDGET_CHANGED, escalation.on_budget_changed)
    fields.clear_cache()
    forget_clients()
    settings = app.config["SETTINGS"]
    if settings.jira_url:
        from apscheduler.triggers.interval import IntervalTrigger

        from bot.integrations.jira import reconcile

        # A missed webhook never loses a budget: the clock reconciles with Jira every 15 minutes.
        registry.add_job("jira-reconcile", reconcile.run, IntervalTrigger(minutes=15))
    mode = "off" if not settings.jira_url else ("ready" if is_configured(settings) else "dry-run (no credentials)")
    registry.health["jira"] = lambda _session: {"mode": mode, "fields": fields.status()}


def _commands():
    from bot.integrations.jira.cli import jira_group

    return [jira_group]


component = Component("jira", _init_app, _commands)
