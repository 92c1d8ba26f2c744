"""Blocked calls: every `block` preflight answered, recorded; read back for the story page, the digest and the retro."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

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
        first = codes.split(",")[0]
        counts[_FAMILY.get(first.split("_")[0], first) if first != "kill_switch" else "kill switch"] += count
    return counts


def summary_line(session: Session, since: datetime, until: datetime, when: str = "yesterday",
                 story_key: str | None = None) -> str | None:
    """"3 calls blocked yesterday (2 run cap, 1 kill switch)", or None when nothing was blocked."""
    counts = block_counts(session, since, until, story_key)
    total = sum(counts.values())
    if not total:
        return None
    parts = ", ".join(f"{n} {name}" for name, n in counts.most_common())
    return f"{total:,} call{'s' if total != 1 else ''} blocked {when} ({parts})"
