"""OpenTelemetry OTLP/HTTP receiver: coding agents report model calls with no code change (docs/agents.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.integrations.otel.receiver import bp, counters

    app.register_blueprint(bp)
    registry.health["otel"] = counters


def _commands():
    from bot.integrations.otel.cli import agent_env

    return [agent_env]


component = Component("otel", _init_app, _commands)
