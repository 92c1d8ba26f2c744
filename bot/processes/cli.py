"""`budgetbot clock`: the scheduler process of the Procfile."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask


@click.command()
@with_app
def clock(app: Flask) -> None:
    """Run the scheduler: the daily digest, the anomaly scan and every registered job (Procfile `clock:`).

    Start as many as you like: only the one holding the database lease acts, and another takes over
    within BUDGETBOT_CLOCK_LEASE_SECONDS when it stops.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from bot.processes.clock import build_scheduler, stop_quietly

    scheduler = build_scheduler(app, BlockingScheduler)
    clock_ = scheduler.budgetbot_clock
    # Ctrl-C reaches every process of the terminal (SIGINT) and `budgetbot run` then sends SIGTERM: both stop
    # the scheduler once, quietly; the lease is released so the next clock acts at once.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_quietly(scheduler))
    jobs = ", ".join(f"{job.name} ({job.trigger})" for job in clock_.jobs.values())
    click.echo(f"clock {clock_.holder} ({app.config['SETTINGS'].timezone}): {jobs}", err=True)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        stop_quietly(scheduler)
    finally:
        clock_.close()
        click.echo(f"clock {clock_.holder} stopped; lease released", err=True)
