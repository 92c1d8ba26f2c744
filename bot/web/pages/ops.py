"""Alerts, the outbox (pending, dead with the last error) and the status of integrations, clock and database."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.components import registry
from bot.db import get_db, utcnow
from bot.guardrails.tables import Breaker
from bot.integrations.deliveries import Delivery
from bot.outbox.admin import health_detail, list_rows
from bot.processes.tables import ClockLock, ClockRun
from bot.reports.scrum.tables import Alert
from bot.web.pages.blueprint import bp


@bp.get("/alerts")
def alerts():
    with get_db().read() as session:
        rows = list(session.scalars(select(Alert).order_by(Alert.created_at.desc()).limit(200)))
        breakers = list(session.scalars(select(Breaker).where(Breaker.cleared_at.is_(None))
                                        .order_by(Breaker.tripped_at.desc())))
    return render_template("dashboard/alerts.html", alerts=rows, breakers=breakers)


@bp.get("/outbox")
def outbox():
    with get_db().read() as session:
        depth = health_detail(session)
        pending = list_rows(session, state="pending", limit=50)
        dead = list_rows(session, state="dead", limit=100)
    return render_template("dashboard/outbox.html", depth=depth, pending=pending, dead=dead)


@bp.get("/status")
def status():
    settings = current_app.config["SETTINGS"]
    now = utcnow()
    with get_db().read() as session:
        last_webhooks = dict(session.execute(select(Delivery.source, func.max(Delivery.received_at))
                                             .group_by(Delivery.source)).all())
        clocks = list(session.scalars(select(ClockLock)))
        jobs = list(session.scalars(select(ClockRun).order_by(ClockRun.job)))
        dialect = session.get_bind().dialect.name
        try:
            revision = ", ".join(session.execute(text("SELECT version_num FROM alembic_version")).scalars())
        except SQLAlchemyError:
            revision = None  # a database made by create_all (tests) has no migration table
    integrations = [{"name": name, "dry_run": registry().is_dry_run(settings, name),
                     "last_webhook": last_webhooks.get(name)} for name in sorted(registry().integrations)]
    # Only the kind of database: its URL may carry a password.
    return render_template("dashboard/status.html", integrations=integrations, clocks=clocks, jobs=jobs, now=now,
                           dialect=dialect, revision=revision, dry_run=settings.dry_run, zone=settings.timezone)
