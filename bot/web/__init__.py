"""The web layer: the HTTP API, /healthz and the dashboard pages, over the ledger core."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.processes.supervisor import web_argv
    from bot.web import api, dashboard, health, stories_api

    for blueprint in (health.bp, api.bp, stories_api.bp):
        app.register_blueprint(blueprint)
    dashboard.init_app(app)  # the pages, the login, their error pages and security headers
    registry.processes["web"] = web_argv


def _commands():
    from bot.web.users_cli import user_group

    return [user_group]


component = Component("web", _init_app, _commands)
