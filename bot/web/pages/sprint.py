"""The home page: the sprint's burn-down, totals, blocked calls and anomalies, and its stories."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, render_template, request, url_for
from markupsafe import Markup

from bot.db import get_db, utcnow
from bot.web.pages import sprint_data
from bot.web.pages.blueprint import bp
from bot.web.pages.filters import money, percent, status_word, tokens
from bot.web.pages.sprint_data import StoryRow
from bot.web.pages.svg import Series, line_chart, sparkline


@bp.get("/")
def sprint():
    settings = current_app.config["SETTINGS"]
    sort = request.args.get("sort", "percent")
    sort = sort if sort in sprint_data.SORTS else "percent"
    descending = request.args.get("dir", "desc" if sort in ("percent", "spent", "budget") else "asc") == "desc"
    q, status = request.args.get("q", "")[:100], request.args.get("status", "")
    with get_db().read() as session:
        page = sprint_data.load(session, settings.warn_threshold, request.args.get("sprint"), utcnow())
    rows = sprint_data.sort_and_filter(page.rows, sort, descending, q, status)
    label = money if page.unit == "usd" else (lambda v: tokens(int(v)))
    chart = None
    if page.rows:
        chart = line_chart(page.days, [
            Series("spent", page.spent_line, "spent"),
            Series("ideal", page.ideal_line, "ideal", dashed=True),
            Series("sum of budgets", [float(page.budget_total)] * len(page.days), "budget", dashed=True),
        ], lambda v: label(int(v)), f"Burn-down in {'dollars' if page.unit == 'usd' else 'tokens'}")
    # The row cells are formatted here, not by macros in the loop: 500 rows render in a fraction of the time.
    base = url_for("dashboard.story", key="KEY")
    table = [Cells(r, base.replace("KEY", r.key), status_word(r.status), "-" if r.budget is None else label(r.budget),
                   label(r.spent), percent(r.percent), sparkline(r.spark, r.budget)) for r in rows]
    return render_template("dashboard/sprint.html", page=page, table=table, chart=chart,
                           sort=sort, descending=descending, q=q, status=status)


@dataclass(frozen=True, slots=True)
class Cells:
    """One table row as the template shows it. An object, not a dict: Jinja's `c.url` tries getattr first, and
    on a dict that raises AttributeError six times a row before falling back to `c["url"]`."""

    row: StoryRow
    url: str
    status: str
    budget: str
    spent: str
    percent: str
    spark: Markup
