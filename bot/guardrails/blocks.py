"""Blocked calls: every `block` preflight answered, recorded; read back for the story page, the digest and the retro."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.guardrails.shapes import BLOCK, PreflightIn, Reason
from bot.guardrails.tables import BlockedCall

# Short names of the reason codes, for one-line summaries ("3 calls blocked yesterday: 2 run cap, 1 kill switch").
_FAMILY = {"kill_switch": "kill switch", "story": "story budget", "run": "run cap", "consecutive": "error loop",
           "agent": "agent daily cap", "org": "daily cap", "month": "monthly budget"}


def record_block(session: Session, request: PreflightIn, reasons: list[Reason], asked_by: str | None,
                 now: datetime) -> BlockedCall:
    blocking = [r for r in reasons if r.decision == BLOCK]
    row = BlockedCall(at=now, story_key=request.story, agent=request.agent, run_id=request.run_id,
                      model=request.model, asked_by=asked_by, codes=",".join(r.code for r in blocking)[:300],
                      reasons=[{k: v for k, v in r.as_json().items() if k != "check"} for r in blocking])
    session.add(row)
    return row


def blocked_calls(session: Session, story_key: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 100) -> list[dict]:
    """The latest blocked calls (of one story, or all), newest first, as the dashboard shows them."""
    query = select(BlockedCall).order_by(BlockedCall.at.desc(), BlockedCall.id.desc()).limit(limit)
    if story_key is not None:
        query = query.where(BlockedCall.story_key == story_key)
    if since is not None:
        query = query.where(BlockedCall.at >= since)
    if until is not None:
        query = query.where(BlockedCall.at < until)
    return [{"at": row.at.isoformat().replace("+00:00", "Z"), "story": row.story_key, "agent": row.agent,
             "run_id": row.run_id, "model": row.model, "asked_by": row.asked_by, "codes": row.codes.split(","),
             "reasons": row.reasons} for row in session.scalars(query)]


def block_counts(session: Session, since: datetime, until: datetime, story_key: str | None = None) -> Counter:
    """How many calls were blocked in [since, until), by the family of their first reason."""
    query = (select(BlockedCall.codes, func.count()).where(BlockedCall.at >= since, BlockedCall.at < until)
             .group_by(BlockedCall.codes))
    if story_key is not None:
        query = query.where(BlockedCall.story_key == story_key)
    counts: Counter = Counter()
    for codes, count in session.execute(query):
        counts[_family(codes.split(",")[0])] += count
    return counts


def _family(code: str) -> str:
    return "kill switch" if code == "kill_switch" else _FAMILY.get(code.split("_")[0], code)


def summary_line(session: Session, since: datetime, until: datetime, when: str = "yesterday",
                 story_key: str | None = None) -> str | None:
    """"3 calls blocked yesterday (2 run cap, 1 kill switch)", or None when nothing was blocked."""
    counts = block_counts(session, since, until, story_key)
    total = sum(counts.values())
    if not total:
        return None
    parts = ", ".join(f"{n} {name}" for name, n in counts.most_common())
    return f"{total:,} call{'s' if total != 1 else ''} blocked {when} ({parts})"


def _day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b}"


def digest_line(session: Session, first: date, last: date, tz: tzinfo, today: date) -> str | None:
    """The digest's line for its window of local days: "3 calls blocked yesterday (…)", or None."""
    since = datetime.combine(first, time(0), tz).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    if first == last:
        when = "yesterday" if last == today - timedelta(days=1) else f"on {_day(last)}"
    else:
        when = f"from {_day(first)} to {_day(last)}"
    return summary_line(session, since, until, when)


def retro_section(session: Session, start: datetime, end: datetime, project: str | None = None) -> dict:
    """The retro's guardrail figures for [start, end): blocked calls by reason, and the latest few."""
    query = select(BlockedCall).where(BlockedCall.at >= start, BlockedCall.at < end)
    if project:
        query = query.where(BlockedCall.story_key.like(f"{project}-%"))
    rows = list(session.scalars(query.order_by(BlockedCall.at.desc()).limit(1000)))
    counts = Counter(_family(row.codes.split(",")[0]) for row in rows)
    total = len(rows)
    summary = (f"Preflight blocked {total:,} call{'s' if total != 1 else ''}: "
               + ", ".join(f"{n} {name}" for name, n in counts.most_common()) + ".") if total else \
        "Preflight blocked no calls in this period."
    return {"blocked_calls": total, "by_reason": dict(counts.most_common()), "summary": summary,
            "latest": [{"at": row.at.isoformat().replace("+00:00", "Z"), "story": row.story_key, "agent": row.agent,
                        "run_id": row.run_id, "codes": row.codes.split(",")} for row in rows[:10]]}
