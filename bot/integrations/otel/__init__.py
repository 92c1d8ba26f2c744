"""OpenTelemetry OTLP/HTTP receiver: coding agents report model calls with no code change (docs/agents.md)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from bot.health import DETAILS
    from bot.integrations.otel.receiver import bp, counters

    app.register_blueprint(bp)
    DETAILS["otel"] = counters
