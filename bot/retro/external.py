"""Reads of other components' tables (GitHub checks and overrides, scrum alerts), tolerant of their absence."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Date, column, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.db import UTCDateTime
from bot.retro.figures import PrCheck
from bot.retro.period import Period

log = logging.getLogger(__name__)

# The GitHub integration's tables (bot/github/models.py), named here so the retro needs no import of it.
_PR = table("github_pull_requests", column("id"), column("repo_id"), column("head_sha"))
_LINK = table("github_pull_request_stories", column("pull_request_id"), column("story_key"))
_CHECK = table("github_check_runs", column("repo_id"), column("head_sha"), column("conclusion"),
               column("posted_at", UTCDateTime()))
_OVERRIDE = table("github_overrides", column("pull_request_id"), column("approved_by"),
                  column("approved_at", UTCDateTime()), column("revoked_at", UTCDateTime()))
UNKNOWN = PrCheck()


def _has_tables(session: Session, *names: str) -> bool:
    inspector = inspect(session.connection())
    return all(inspector.has_table(name) for name in names)


def pr_checks(session: Session, keys: list[str]) -> dict[str, PrCheck]:
    """Latest PR check conclusion and standing (unrevoked) override per story; "unknown" for every story
    when the GitHub tables are absent or not shaped as expected."""
    if not keys or not _has_tables(session, _PR.name, _LINK.name, _CHECK.name, _OVERRIDE.name):
        return {}
    found: dict[str, PrCheck] = {}
    try:
        with session.begin_nested():  # a failed read must not poison the caller's transaction (PostgreSQL)
            checks = session.execute(
                select(_LINK.c.story_key, _CHECK.c.conclusion)
                .join(_PR, _PR.c.id == _LINK.c.pull_request_id)
                .join(_CHECK, (_CHECK.c.repo_id == _PR.c.repo_id) & (_CHECK.c.head_sha == _PR.c.head_sha))
                .where(_LINK.c.story_key.in_(keys))
                .order_by(_LINK.c.story_key, _CHECK.c.posted_at)).all()
            overrides = session.execute(
                select(_LINK.c.story_key, _OVERRIDE.c.approved_by, _OVERRIDE.c.approved_at)
                .join(_OVERRIDE, _OVERRIDE.c.pull_request_id == _LINK.c.pull_request_id)
                .where(_LINK.c.story_key.in_(keys), _OVERRIDE.c.revoked_at.is_(None))
                .order_by(_LINK.c.story_key, _OVERRIDE.c.approved_at)).all()
    except SQLAlchemyError as exc:
        log.warning("PR check lookup failed, reporting 'unknown': %s", exc)
        return {}
    for key, conclusion in checks:  # ordered by time: the last one wins
        found[key] = PrCheck(conclusion or "unknown")
    for key, by, at in overrides:
        base = found.get(key, UNKNOWN)
        found[key] = PrCheck(base.conclusion, by, _iso(at))
    return found


@dataclass(frozen=True)
class Alert:
    at: str
    rule: str
    subject: str
    message: str


# The scrum helper's alerts table; its column names are matched from these candidates.
ALERT_TABLES = ("scrum_alerts", "alerts", "anomaly_alerts")
_ALERT_COLUMNS = {
    "at": ("created_at", "raised_at", "fired_at", "at", "day"),
    "rule": ("rule", "kind", "type"),
    "subject": ("subject", "subject_key", "story_key", "agent"),
    "message": ("message", "text", "detail", "summary", "title"),
}


def alerts(session: Session, period: Period, limit: int = 100) -> list[Alert] | None:
    """Anomaly alerts raised in the period, newest first; None when there is no alerts table to read."""
    inspector = inspect(session.connection())
    name = next((n for n in ALERT_TABLES if inspector.has_table(n)), None)
    if name is None:
        return None
    present = {c["name"] for c in inspector.get_columns(name)}
    chosen = {part: next((c for c in options if c in present), None) for part, options in _ALERT_COLUMNS.items()}
    if chosen["at"] is None or chosen["rule"] is None:
        log.warning("table %s has no time or rule column; anomalies not shown", name)
        return None
    is_day = chosen["at"] == "day"
    alerts_table = table(name, *(column(c, (Date() if is_day else UTCDateTime()) if part == "at" else None)
                                 for part, c in chosen.items() if c))
    cols = alerts_table.c
    at = cols[chosen["at"]]
    bounds = (period.start.date(), period.end.date()) if is_day else (period.start, period.end)
    stmt = (select(*(cols[c] for c in chosen.values() if c)).where(at >= bounds[0], at < bounds[1])
            .order_by(at.desc()).limit(limit))
    try:
        with session.begin_nested():
            rows = session.execute(stmt).mappings().all()
    except SQLAlchemyError as exc:
        log.warning("reading %s failed; anomalies not shown: %s", name, exc)
        return None
    return [Alert(_iso(row[chosen["at"]]), str(row[chosen["rule"]]),
                  str(row[chosen["subject"]]) if chosen["subject"] and row[chosen["subject"]] is not None else "",
                  str(row[chosen["message"]]) if chosen["message"] and row[chosen["message"]] is not None else "")
            for row in rows]


def _iso(value) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)
