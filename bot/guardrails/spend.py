"""Spend per agent per local day and month, kept at ingest (a USAGE_RECORDED listener), and rebuildable."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.guardrails.figures import periods
from bot.guardrails.tables import PeriodSpend, Reservation
from bot.ledger.tables import UsageEvent
from bot.upsert import dialect_insert


def _sums(rows, timezone: str) -> dict[tuple[str, str], list[int]]:
    """Tokens, nano-dollars and calls per (local day or month, agent), the periods in the team's `timezone`."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        day, month = periods(row["occurred_at"], timezone)
        for period in (day, month):
            bucket = sums[(period, row["agent"] or "")]
            bucket[0] += row["input_tokens"] + row["output_tokens"]
            bucket[1] += row["cost_nano_usd"]
            bucket[2] += 1
    return sums


def _upsert(session: Session, sums: dict[tuple[str, str], list[int]]) -> None:
    if not sums:
        return
    values = [{"period": period, "agent": agent, "tokens": t, "nano_usd": n, "calls": c}
              for (period, agent), (t, n, c) in sorted(sums.items())]  # one lock order for every writer
    stmt = dialect_insert(session, PeriodSpend.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["period", "agent"], set_={
        name: getattr(PeriodSpend, name) + getattr(stmt.excluded, name) for name in ("tokens", "nano_usd", "calls")})
    session.execute(stmt, values)


def on_usage_recorded(session: Session, rows: list[dict], timezone: str) -> None:
    """Add the accepted events to the local day/month spend and settle the reservations they name."""
    _upsert(session, _sums(rows, timezone))
    settled = sorted({row["reservation_id"] for row in rows if row.get("reservation_id")})
    if settled:
        session.execute(delete(Reservation).where(Reservation.id.in_(settled)))


def rebuild(session: Session, timezone: str) -> int:
    """Recompute the table from the ledger (after a change of BUDGETBOT_TIMEZONE, say); returns rows written."""
    session.execute(delete(PeriodSpend))
    columns = (UsageEvent.occurred_at, UsageEvent.agent, UsageEvent.input_tokens, UsageEvent.output_tokens,
               UsageEvent.cost_nano_usd)
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for occurred, agent, tin, tout, nano in session.execute(select(*columns).execution_options(yield_per=10_000)):
        row = {"occurred_at": occurred, "agent": agent, "input_tokens": tin, "output_tokens": tout,
               "cost_nano_usd": nano}
        for key, (t, n, c) in _sums([row], timezone).items():
            bucket = sums[key]
            bucket[0] += t
            bucket[1] += n
            bucket[2] += c
    _upsert(session, sums)
    return len(sums)
