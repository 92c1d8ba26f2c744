"""The long-running processes besides web and worker: the clock (scheduler), and the supervisor behind `run`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session


def clock_health(session: Session) -> dict:
    """/healthz detail: which clock holds the lease, and when each job last ran."""
    from sqlalchemy import select

    from bot.processes.tables import ClockLock, ClockRun

    lock = session.get(ClockLock, "clock")
    return {"holder": lock.holder if lock else None,
            "lease_until": lock.lease_until.isoformat() if lock and lock.holder else None,
            "last_runs": {run.job: run.last_fire_at.isoformat() for run in session.scalars(select(ClockRun))}}


def _init_app(app: Flask, registry: Registry) -> None:
    from bot.processes.supervisor import budgetbot_argv

    registry.health["clock"] = clock_health
    registry.processes["clock"] = lambda options: budgetbot_argv("clock")  # `budgetbot run` starts it too


def _commands():
    from bot.processes.cli import clock

    return [clock]


component = Component("processes", _init_app, _commands)
