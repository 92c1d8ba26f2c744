"""Daily scrum: burn-down comments, the Slack digest and anomaly alerts, run by the clock and at ingest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.components import Component, Registry

if TYPE_CHECKING:
    from flask import Flask

    from bot.config import Settings


def digest_job(app: Flask) -> None:
    from bot.db import get_db
    from bot.reports.scrum.digest import run

    with get_db(app).transaction() as session:
        run(session, app.config["SETTINGS"])


def anomaly_scan_job(app: Flask) -> None:
    from bot.db import get_db
    from bot.reports.scrum.alerts import scan

    with get_db(app).transaction() as session:
        scan(session, app.config["SETTINGS"])


def _digest_trigger(settings: Settings):
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    return CronTrigger(day_of_week=settings.digest_days, hour=hour, minute=minute, timezone=ZoneInfo(settings.timezone))


def _scan_trigger(settings: Settings):
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(minutes=settings.anomaly_scan_minutes, timezone=ZoneInfo(settings.timezone))


def _init_app(app: Flask, registry: Registry) -> None:
    from sqlalchemy.orm import Session

    from bot.ledger.events import RUNS_UPDATED, RollupTotals
    from bot.reports.scrum.alerts import check_ingest

    # The cheap anomaly rules judge the totals the ledger's rollups just returned, inside the ingest transaction.
    def judge_ingest(session: Session, totals: RollupTotals) -> None:  # a listener returns nothing
        check_ingest(session, totals.runs, totals.agent_days, app.config["SETTINGS"])

    registry.events.listen(RUNS_UPDATED, judge_ingest)
    registry.add_job("digest", digest_job, _digest_trigger, lambda s: int(s.digest_catch_up_hours * 3600))
    registry.add_job("anomaly_scan", anomaly_scan_job, _scan_trigger, 60)


def _commands():
    from bot.reports.scrum.cli import COMMANDS

    return list(COMMANDS)


component = Component("scrum", _init_app, _commands)
