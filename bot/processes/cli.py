"""`budgetbot clock`: the scheduler process of the Procfile."""

from __future__ import annotations

import signal

import click
from flask import Flask

from bot.cli.app import with_app


@click.command()
@with_app
def clock(app: Flask) -> None:
    """Run the scheduler: the daily digest, the anomaly scan and every registered job (Procfile `clock:`).

    Start as many as you like: only the one holding the database lease acts, and another takes over
    within BUDGETBOT_CLOCK_LEASE_SECONDS when it stops.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.processes.clock import build_scheduler

    scheduler = build_scheduler(app, BlockingScheduler)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    jobs = ", ".join(f"{job.name} ({job.trigger})" for job in scheduler.budgetbot_clock.jobs.values())
    click.echo(f"clock {scheduler.budgetbot_clock.holder} ({app.config['SETTINGS'].timezone}): {jobs}", err=True)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        if scheduler.running:
            scheduler.shutdown(wait=False)
