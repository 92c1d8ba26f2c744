"""The sprint retro and the finance export: figures from the rollups, their queries, renderers and posting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:  # `budgetbot --help` collects this package's commands without importing Flask
    from flask import Flask


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.ledger.events import USAGE_RECORDED
    from bot.reports.retro.rollup import on_usage_recorded

    # The retro's rollup is kept inside the ingest transaction, like the ledger's own.
    registry.events.listen(USAGE_RECORDED, on_usage_recorded)


def _commands():
    from bot.reports.retro.cli import COMMANDS

    return list(COMMANDS)


component = Component("retro", _init_app, _commands)
