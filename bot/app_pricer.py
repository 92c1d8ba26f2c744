"""Wires one shared Pricer (and its rate cache) into the app."""

from __future__ import annotations

from flask import Flask, current_app

from bot.config import ConfigError
from bot.ledger.pricing import Pricer


def init_app(app: Flask) -> None:
    try:
        app.extensions["budgetbot.pricer"] = Pricer(app.config["SETTINGS"].prices_file)
    except ValueError as exc:  # a bad price file is a bad setting: one line naming it, not a traceback
        raise ConfigError(f"invalid configuration: BUDGETBOT_PRICES_FILE: {exc}") from None


def get_pricer() -> Pricer:
    return current_app.extensions["budgetbot.pricer"]
