"""Guardrails: the preflight circuit breaker an agent asks before each model call, and the kill switches."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.guardrails import preflight

    preflight.install(app, registry)


def _commands():
    from bot.guardrails.breakers import breaker
    from bot.guardrails.policy_cli import policy

    return [breaker, policy]


component = Component("guardrails", _init_app, _commands)
