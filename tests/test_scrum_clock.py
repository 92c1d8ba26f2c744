"""The clock: cron times in the team's zone (weekends, DST), one clock acting at a time, a missed digest caught up
once, registered jobs, and start/stop for `budgetbot run`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from apscheduler.triggers.interval import IntervalTrigger
from scrum_support import rows
from sqlalchemy import select

from bot.components import registry
from bot.processes import clock as clock_module
from bot.processes.clock import Clock, build_scheduler, latest_fire
from bot.processes.tables import ClockLock, ClockRun

FRIDAY_9 = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (winter time)
MONDAY_9 = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 in Berlin (summer time since Sunday)


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "timezone": "Europe/Berlin", "clock_lease_seconds": 90}


def digests(db) -> list[str]:
    return [row.payload["update_key"] for row in rows(db, "slack.message")]


def last_fire(db, job="digest"):
    with db.session_factory() as session:
        return session.scalar(select(ClockRun.last_fire_at).where(ClockRun.job == job))


def test_digest_fires_at_nine_local_on_weekdays_across_the_dst_change(app):
    trigger = Clock(app).jobs["digest"].trigger

    fires, fire = [], trigger.get_next_fire_time(None, datetime(2026, 3, 26, 9, tzinfo=UTC))
    for _ in range(3):
        fires.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))

    # Thursday's has passed; Friday 08:00 UTC (CET), no weekend runs, Monday 07:00 UTC (CEST).
    assert fires == [FRIDAY_9, MONDAY_9, MONDAY_9 + timedelta(days=1)]
    assert latest_fire(trigger, datetime(2026, 3, 29, 20, tzinfo=UTC), since=FRIDAY_9 - timedelta(days=1)) == FRIDAY_9


def test_the_scheduled_run_happens_once_even_if_fired_again(app, db):
    clock = Clock(app, holder="a")
    with time_machine.travel(MONDAY_9 + timedelta(seconds=2), tick=False):
        ran = clock.run_job("digest")
    with time_machine.travel(MONDAY_9 + timedelta(hours=1), tick=False):  # a UTC-minded scheduler would fire now
        again = clock.run_job("digest")

    assert (ran, again) == (True, False)
    assert digests(db) == ["digest:2026-03-30"]
    assert last_fire(db) == MONDAY_9


def test_only_the_clock_holding_the_lease_acts(app, db):
    first, second = Clock(app, holder="first"), Clock(app, holder="second")
    with time_machine.travel(FRIDAY_9 + timedelta(seconds=1), tick=False):
        results = [first.run_job("digest"), second.run_job("digest")]

    assert results == [True, False]
    assert digests(db) == ["digest:2026-03-27"]
    with db.session_factory() as session:
        assert session.get(ClockLock, "clock").holder == "first"


def test_another_clock_takes_over_when_the_lease_expires(app, db):
    first, second = Clock(app, holder="first"), Clock(app, holder="second")
    now = FRIDAY_9

    assert first.acquire(now) and not second.acquire(now + timedelta(seconds=60))
    assert first.acquire(now + timedelta(seconds=60))  # renewed
    assert not second.acquire(now + timedelta(seconds=149))
    assert second.acquire(now + timedelta(seconds=151))  # first stopped renewing 91 s ago
    assert not first.acquire(now + timedelta(seconds=152))
    second.release()
    assert first.acquire(now + timedelta(seconds=153))


def test_a_digest_missed_while_down_is_caught_up_once(app, db):
    clock = Clock(app, holder="a")
    with time_machine.travel(datetime(2026, 3, 24, 8, 0, 1, tzinfo=UTC), tick=False):  # Tuesday 09:00
        clock.run_job("digest")
    clock.release()
    # Down from Tuesday until Thursday 11:00: Wednesday's and Thursday's digests were missed.
    with time_machine.travel(datetime(2026, 3, 26, 10, 0, tzinfo=UTC), tick=False):
        restarted = Clock(app, holder="b")
        restarted.heartbeat()
        restarted.heartbeat()
        Clock(app, holder="c").heartbeat()  # a second clock starting changes nothing

    assert digests(db) == ["digest:2026-03-24", "digest:2026-03-26"]
    assert last_fire(db) == datetime(2026, 3, 26, 8, 0, tzinfo=UTC)


def test_a_missed_run_older_than_the_grace_is_not_sent_late(app, db):
    clock = Clock(app, holder="a")
    with time_machine.travel(datetime(2026, 3, 24, 8, 0, 1, tzinfo=UTC), tick=False):
        clock.run_job("digest")
    clock.release()
    with time_machine.travel(datetime(2026, 3, 25, 21, 30, tzinfo=UTC), tick=False):  # 22:30, 13.5 h late
        Clock(app, holder="b").heartbeat()

    assert digests(db) == ["digest:2026-03-24"]


def test_a_first_start_after_nine_does_not_send_a_digest(app, db):
    with time_machine.travel(datetime(2026, 3, 26, 10, 0, tzinfo=UTC), tick=False):
        Clock(app).heartbeat()

    assert digests(db) == []
    assert last_fire(db) == datetime(2026, 3, 26, 10, 0, tzinfo=UTC)


def test_registered_jobs_run_in_the_clock_and_a_failing_job_does_not_stop_it(app, db):
    calls = []
    registry(app).add_job("jira_reconcile", lambda app_: calls.append(app_), IntervalTrigger(minutes=15))
    registry(app).add_job("broken", lambda app_: 1 / 0, lambda settings: IntervalTrigger(minutes=5))

    clock = Clock(app)
    scheduler = build_scheduler(app, clock=clock)

    assert {job.id for job in scheduler.get_jobs()} == {"heartbeat", "digest", "anomaly_scan", "jira_reconcile",
                                                        "broken"}
    assert clock.run_job("jira_reconcile") and calls == [app]
    assert clock.run_job("broken") is False
    with db.session_factory() as session:
        assert session.get(ClockRun, "broken").last_error == "ZeroDivisionError: division by zero"


def test_the_anomaly_scan_is_a_clock_job(app, db, monkeypatch):
    seen = []
    monkeypatch.setattr("bot.reports.scrum.alerts.scan", lambda session, settings: seen.append(settings))

    assert Clock(app).run_job("anomaly_scan")
    assert seen == [app.config["SETTINGS"]]


def test_the_scheduler_runs_in_the_background_and_shutdown_frees_the_lease(app, db):
    scheduler = build_scheduler(app)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not scheduler.budgetbot_clock.leader:
            time.sleep(0.05)
        assert scheduler.running and scheduler.budgetbot_clock.leader
        assert str(scheduler.timezone) == "Europe/Berlin"
    finally:
        scheduler.shutdown(wait=True)
    with db.session_factory() as session:
        assert session.get(ClockLock, "clock").holder is None


def test_clock_module_is_what_the_procfile_runs():
    procfile = Path(clock_module.__file__.replace("bot/processes/clock.py", "Procfile")).read_text()
    assert "clock: budgetbot clock" in procfile


def test_healthz_shows_the_clock(app, client):
    with time_machine.travel(FRIDAY_9, tick=False):
        Clock(app, holder="clock-1").run_job("digest")

    clock = client.get("/healthz").json["clock"]

    assert clock["holder"] == "clock-1"
    assert clock["last_runs"] == {"digest": "2026-03-27T08:00:00+00:00"}
