"""One story: budget and spend in both units, spend over time, breakdowns, runs, calls, PRs, alerts, breakers."""

from __future__ import annotations

from flask import abort, current_app, g, render_template

from bot.db import get_db, utcnow
from bot.ledger.keys import InvalidStoryKey, normalize_key
from bot.ledger.read import story_summary
from bot.ledger.tables import Story, UsageDay
from bot.web.pages import story_data
from bot.web.pages.actions import approvals_module
from bot.web.pages.blocked import blocked_calls
from bot.web.pages.blueprint import bp
from bot.web.pages.filters import money, tokens
from bot.web.pages.svg import Series, line_chart


@bp.get("/stories/<key>")
def story(key: str):
    try:
        key = normalize_key(key)
    except InvalidStoryKey:
        abort(404, description=f"{key!r} is not a story key")
    settings = current_app.config["SETTINGS"]
    with get_db().read() as session:
        row = session.get(Story, key)
        if row is None or row.deleted:
            abort(404, description=f"budgetbot knows no story {key}")
        summary = story_summary(row, settings.warn_threshold)
        days = story_data.days(session, key, utcnow().date())
        by_model = story_data.by(session, key, UsageDay.model)
        by_agent = story_data.by(session, key, UsageDay.agent)
        runs = story_data.runs(session, key, settings.anomaly_error_streak)
        context = {
            "row": row, "s": summary, "by_model": by_model, "by_agent": by_agent, "runs": runs,
            "calls": story_data.recent_calls(session, key),
            "prs": story_data.pull_requests(session, key),
            "alerts": story_data.alerts(session, key),
            "blocked": blocked_calls(session, [key]),
            "breakers": story_data.breakers(session, row, [a["name"] for a in by_agent if a["name"]],
                                            [r["run"].run_id for r in runs]),
        }
    unit = "usd" if row.budget_nano_usd or not row.budget_tokens else "tokens"
    chart = None
    if days.days:
        values = days.nano if unit == "usd" else days.tokens
        budget = row.budget_nano_usd if unit == "usd" else row.budget_tokens
        series = [Series("spent", [float(v) for v in values], "spent")]
        if budget:
            series.append(Series("budget", [float(budget)] * len(values), "budget", dashed=True))
        label = money if unit == "usd" else (lambda v: tokens(int(v)))
        chart = line_chart(days.days, series, lambda v: label(int(v)),
                           f"Spend of {key} over time, in {'dollars' if unit == 'usd' else 'tokens'}")
    jira = f"{settings.jira_url.rstrip('/')}/browse/{key}" if settings.jira_url else None
    can_approve = summary["status"] == "over" and approvals_module() is not None
    return render_template("dashboard/story.html", chart=chart, jira=jira, link_only=g.get("link_only", False),
                           can_approve=can_approve,
                           **context)
