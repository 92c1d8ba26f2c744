"""Spend by agent, model, team, project or cost center over a date range: a chart, a table, the CSV export."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from flask import Response, render_template, request, stream_with_context

from bot.db import get_db, utcnow
from bot.ledger.keys import project_of
from bot.reports.export import GROUPS, export_lines, grouped_rows, reading_session
from bot.reports.retro.period import Period, PeriodError, date_range
from bot.web.pages.blueprint import bp
from bot.web.pages.filters import money
from bot.web.pages.svg import bars

BY = {"agent": "agent", "model": "model", "team": "team", "project": "project", "cost_center": "cost center"}
DEFAULT_DAYS = 30


def _period() -> tuple[Period, str, str, str | None]:
    today = utcnow().date()
    start = request.args.get("from") or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    end = request.args.get("to") or today.isoformat()
    try:
        return date_range(start, end), start, end, None
    except PeriodError as exc:
        fallback = today - timedelta(days=DEFAULT_DAYS - 1)
        return date_range(fallback.isoformat(), today.isoformat()), fallback.isoformat(), today.isoformat(), str(exc)


def _nano(usd: str | None) -> int | None:
    return None if usd is None else int(Decimal(usd) * 10**9)


@bp.get("/spend")
def spend():
    by = request.args.get("by", "agent")
    by = by if by in BY else "agent"
    period, start, end, error = _period()
    with reading_session(get_db().engine) as session:
        rows = list(grouped_rows(session, period, "story" if by == "project" else by))
    groups: dict[str, dict] = defaultdict(lambda: {"tokens": 0, "nano": 0, "events": 0, "unpriced": 0})
    for row in rows:
        name = row.get("story") and project_of(row["story"]) if by == "project" else row[by]
        group = groups[name or ""]
        group["tokens"] += row["tokens"]
        group["nano"] += _nano(row["usd"]) or 0
        group["events"] += row["events"]
        group["unpriced"] += row["unpriced_events"]
    table = sorted(groups.items(), key=lambda item: (-item[1]["nano"], -item[1]["tokens"]))
    chart = bars([(name or "(not reported)", float(g["nano"])) for name, g in table[:15]],
                 lambda v: money(int(v)), f"Spend by {BY[by]}")
    total = sum(g["nano"] for g in groups.values())
    return render_template("dashboard/spend.html", by=by, groups=BY, table=table, chart=chart, start=start,
                           end=end, error=error, total=total, csv_by=by if by in GROUPS else "story")


@bp.get("/spend.csv")
def spend_csv():
    by = request.args.get("by", "agent")
    by = by if by in GROUPS else "story"
    period, start, end, _ = _period()
    engine = get_db().engine

    def lines():
        with reading_session(engine) as session:
            yield from export_lines(session, period, "csv", group_by=by)

    return Response(stream_with_context(lines()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="budgetbot-spend-{by}-{start}-{end}.csv"'})
