"""The web layer: the HTTP API, /healthz and the dashboard pages, over the ledger core."""

from __future__ import annotations

from flask import Flask

from bot.components import Component, Registry


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.processes.supervisor import web_argv
    from bot.web import api, dashboard, health, stories_api

    for blueprint in (health.bp, api.bp, stories_api.bp, dashboard.bp):
        app.register_blueprint(blueprint)
    registry.processes["web"] = web_argv


component = Component("web", _init_app)
