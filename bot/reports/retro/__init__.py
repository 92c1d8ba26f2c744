"""The sprint retro and the finance export: figures from the ledger, their queries, renderers and posting."""

from bot.components import Component


def _commands():
    from bot.reports.retro.cli import COMMANDS

    return list(COMMANDS)


component = Component("retro", commands=_commands)
