"""The clock: APScheduler jobs in BUDGETBOT_TIMEZONE. Only the clock holding the database lease acts; a cron run
missed while no clock was up is caught up once; jobs only compute and enqueue (the outbox sends).

`budgetbot clock` runs it. Components add periodic jobs on their app's registry
(`registry.add_job(name, fn(app), trigger)`), the trigger being an APScheduler trigger or fn(settings) -> one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.components import registry
from bot.db import get_db, rowcount, utcnow
from bot.processes.tables import ClockLock, ClockRun

log = logging.getLogger(__name__)
LOCK = "clock"
DEFAULT_GRACE_SECONDS = 300


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    fn: Callable[[Flask], object]
    trigger: BaseTrigger
    grace_seconds: int  # how late a missed run may still start (APScheduler misfire grace and our catch-up)


def jobs(app: Flask) -> list[ScheduledJob]:
    """The jobs the app's components registered, each trigger built for the app's settings."""
    settings = app.config["SETTINGS"]
    found = []
    for job in registry(app).jobs.values():
        trigger = job.trigger if isinstance(job.trigger, BaseTrigger) else job.trigger(settings)
        grace = job.grace_seconds(settings) if callable(job.grace_seconds) else job.grace_seconds
        found.append(ScheduledJob(job.name, job.fn, trigger, DEFAULT_GRACE_SECONDS if grace is None else grace))
    return found


class Clock:
    """One clock process: the lease, the run log, and the jobs, runnable without a scheduler (tests, catch-up)."""

    def __init__(self, app: Flask, holder: str | None = None) -> None:
        self.app = app
        self.settings = app.config["SETTINGS"]
        self.db = get_db(app)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.leader = False
        self.closed = False
        # Held while the lease is taken or renewed: close() waits for a heartbeat in flight (a job's thread goes on
        # after the scheduler is shut down), so no heartbeat can take the lease back after close() released it.
        self._lease_lock = threading.Lock()
        self.jobs = {job.name: job for job in jobs(app)}

    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease if it is free or expired, or renew ours. True when this clock may act."""
        with self._lease_lock:
            if self.closed:  # stopping: a heartbeat still in flight must not take the lease back
                return False
            return self._acquire(now or utcnow())

    def _acquire(self, now: datetime) -> bool:
        lease = timedelta(seconds=self.settings.clock_lease_seconds)
        with self.db.transaction() as session:
            module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            session.execute(module.insert(ClockLock).values(name=LOCK, holder=None, lease_until=now - lease)
                            .on_conflict_do_nothing(index_elements=["name"]))
            taken = rowcount(session.execute(update(ClockLock).where(
                ClockLock.name == LOCK,
                or_(ClockLock.holder == self.holder, ClockLock.holder.is_(None), ClockLock.lease_until < now))
                .values(holder=self.holder, lease_until=now + lease)))
        self.leader = taken == 1
        return self.leader

    def release(self) -> None:
        with self.db.transaction() as session:
            session.execute(update(ClockLock).where(ClockLock.name == LOCK, ClockLock.holder == self.holder)
                            .values(holder=None))
        self.leader = False

    def close(self) -> None:
        """Stop acting and give the lease back (never raising: this runs while the process stops)."""
        with self._lease_lock:
            self.closed = True
        try:
            self.release()
        except Exception:  # the database may be gone too; the lease then expires by itself
            log.warning("clock %s could not release its lease; it expires in %ss", self.holder,
                        self.settings.clock_lease_seconds)

    def heartbeat(self, now: datetime | None = None) -> None:
        """Renew the lease; a clock that just became the one acting catches up what was missed."""
        was_leader = self.leader
        if self.acquire(now) and not was_leader:
            log.info("clock %s is now the one acting", self.holder)
            self.catch_up(now)

    def catch_up(self, now: datetime | None = None) -> list[str]:
        """Run each cron job once if its latest scheduled time passed unserved (within its grace)."""
        now, ran = now or utcnow(), []
        for job in self.jobs.values():
            if not isinstance(job.trigger, CronTrigger):
                continue
            last = self._last_fire(job.name)
            if last is None:  # never ran here: nothing was missed, start the log from now
                self._log(job.name, now, None)
                continue
            due = latest_fire(job.trigger, now, since=max(last, now - timedelta(seconds=job.grace_seconds)))
            if due is not None and due > last and self.run_job(job.name, now, fire_at=due):
                ran.append(job.name)
        return ran

    def run_job(self, name: str, now: datetime | None = None, fire_at: datetime | None = None) -> bool:
        """Run a job if this clock holds the lease and its scheduled time was not served yet. True if it ran."""
        job, now = self.jobs[name], now or utcnow()
        if not self.acquire(now):
            return False
        if isinstance(job.trigger, CronTrigger):
            fire_at = fire_at or latest_fire(job.trigger, now, since=now - timedelta(days=8)) or now
            last = self._last_fire(name)
            if last is not None and last >= fire_at:
                return False  # already served (by the catch-up, or by the clock that held the lease before)
        fire_at = fire_at or now
        log.info("clock job %s (scheduled %s)", name, fire_at.isoformat())
        error = None
        try:
            with self.app.app_context():
                job.fn(self.app)
        except Exception as exc:  # a failing job must not stop the clock; the next run tries again
            log.exception("clock job %s failed", name)
            error = f"{type(exc).__name__}: {exc}"
        self._log(name, fire_at, error)
        return error is None

    def _last_fire(self, name: str) -> datetime | None:
        with self.db.session_factory() as session:
            return session.scalar(select(ClockRun.last_fire_at).where(ClockRun.job == name))

    def _log(self, name: str, fire_at: datetime, error: str | None) -> None:
        with self.db.transaction() as session:
            row = session.get(ClockRun, name) or ClockRun(job=name)
            row.last_fire_at, row.last_finished_at, row.last_error = fire_at, utcnow(), error
            session.add(row)


def latest_fire(trigger: CronTrigger, now: datetime, since: datetime) -> datetime | None:
    """The last time `trigger` fired in (since, now], or None."""
    found, fire = None, trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
    while fire is not None and fire <= now:
        found, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return found


def stop_quietly(scheduler: BaseScheduler) -> None:
    """Shut the scheduler down once; a second signal (Ctrl-C, then `budgetbot run`'s SIGTERM) does nothing."""
    from apscheduler.schedulers import SchedulerNotRunningError

    try:
        if scheduler.running:
            scheduler.shutdown(wait=False)
    except SchedulerNotRunningError:
        pass


def build_scheduler(app: Flask, scheduler_cls: type[BaseScheduler] = BackgroundScheduler,
                    clock: Clock | None = None) -> BaseScheduler:
    """A scheduler with the heartbeat and every job, not started. `scheduler.budgetbot_clock` is the Clock."""
    clock = clock or Clock(app)
    settings = app.config["SETTINGS"]
    # APScheduler logs every run at INFO, the heartbeat's too (twice a minute); run_job logs what matters.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = scheduler_cls(timezone=ZoneInfo(settings.timezone),
                              job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(clock.heartbeat, IntervalTrigger(seconds=max(5, settings.clock_lease_seconds // 3)),
                      id="heartbeat", next_run_time=datetime.now(ZoneInfo(settings.timezone)))
    for job in clock.jobs.values():
        scheduler.add_job(clock.run_job, job.trigger, args=[job.name], id=job.name, name=job.name,
                          misfire_grace_time=job.grace_seconds)
    scheduler.add_listener(lambda event: clock.release(), EVENT_SCHEDULER_SHUTDOWN)
    scheduler.budgetbot_clock = clock
    return scheduler
