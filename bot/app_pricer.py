"""Wires one shared Pricer (and its rate cache) into the app."""

from __future__ import annotations

from flask import Flask, current_app

from bot.ledger.pricing import Pricer


def init_app(app: Flask) -> None:
    app.extensions["budgetbot.pricer"] = Pricer(app.config["SETTINGS"].prices_file)


def get_pricer() -> Pricer:
    return current_app.extensions["budgetbot.pricer"]
