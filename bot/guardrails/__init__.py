"""Guardrails: the preflight circuit breaker an agent asks before each model call, and the kill switches."""

from __future__ import annotations

from flask import Flask

from bot.components import Component, Registry


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.guardrails import preflight

    app.register_blueprint(preflight.bp)


def _commands():
    from bot.guardrails.breakers import breaker

    return [breaker]


component = Component("guardrails", _init_app, _commands)
