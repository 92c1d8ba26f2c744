"""Daily scrum: burn-down comments, the Slack digest, anomaly alerts and the clock that runs them.

Kept light on import: `bot.ledger` calls `bot.scrum.rollups.apply` on every ingest.
"""

from __future__ import annotations

from flask import Flask


def clock_health(session) -> dict:
    """/healthz detail: which clock holds the lease, and when each job last ran."""
    from sqlalchemy import select

    from bot.processes.tables import ClockLock, ClockRun

    lock = session.get(ClockLock, "clock")
    return {"holder": lock.holder if lock else None,
            "lease_until": lock.lease_until.isoformat() if lock and lock.holder else None,
            "last_runs": {run.job: run.last_fire_at.isoformat() for run in session.scalars(select(ClockRun))}}


def init_app(app: Flask) -> None:
    from bot.processes.supervisor import budgetbot_argv, register_process
    from bot.web.health import DETAILS

    DETAILS["clock"] = clock_health
    register_process("clock", lambda options: budgetbot_argv("clock"))  # `budgetbot run` starts it too
