"""`budgetbot clock`: the scheduler process of the Procfile."""

from __future__ import annotations

import signal
import threading
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
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.processes.clock import build_scheduler, stop_quietly

    # A signal only sets `stop`; this thread, never asleep for long, then stops the scheduler once and gives the
    # lease back. With APScheduler's BlockingScheduler a signal that came before it started, or that the kernel
    # handed to a job's thread, went unseen until the next heartbeat, and `budgetbot run` killed the clock first
    # with its lease still taken: the next clock waited for it to expire.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = build_scheduler(app, BackgroundScheduler)
    clock_ = scheduler.budgetbot_clock
    jobs = ", ".join(f"{job.name} ({job.trigger})" for job in clock_.jobs.values())
    click.echo(f"clock {clock_.holder} ({app.config['SETTINGS'].timezone}): {jobs}", err=True)
    try:
        if not stop.is_set():
            scheduler.start()
        while not stop.wait(0.5):  # a timed wait: the main thread runs a handler only when it wakes
            pass
    finally:
        stop_quietly(scheduler)
        clock_.close()
        click.echo(f"clock {clock_.holder} stopped; lease released", err=True)
