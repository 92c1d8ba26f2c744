"""Read-only HTML pages: the story list and one story's budget, spend, daily burn and top spenders."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from markupsafe import Markup
from sqlalchemy import select

from bot.db import get_db
from bot.ledger.keys import InvalidStoryKey, normalize_key
from bot.ledger.read import breakdown, story_detail, story_summary
from bot.ledger.tables import Story, StoryDay, UsageEvent

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    warn = current_app.config["SETTINGS"].warn_threshold
    with get_db().session_factory() as session:
        stories = [story_summary(s, warn) for s in
                   session.scalars(select(Story).where(Story.deleted.is_(False)).order_by(Story.key))]
    return render_template("stories.html", stories=stories)


@bp.get("/stories/<key>")
def story_page(key: str):
    try:
        key = normalize_key(key)
    except InvalidStoryKey:
        abort(404)
    warn = current_app.config["SETTINGS"].warn_threshold
    with get_db().session_factory() as session:
        story = session.get(Story, key)
        if story is None:
            abort(404)
        detail = story_detail(session, story, warn)
        detail["by_run"] = breakdown(session, key, UsageEvent.run_id)
        days = list(session.scalars(select(StoryDay).where(StoryDay.story_key == key).order_by(StoryDay.day)))
    return render_template("story.html", story=detail, chart=_burn_chart(days, story.budget_tokens))


def _burn_chart(days: list[StoryDay], budget_tokens: int | None) -> Markup | None:
    if not days:
        return None
    labels = [d.day.isoformat() for d in days]
    running, cumulative = 0, []
    for day in days:
        running += day.tokens
        cumulative.append(running)
    series = {"tokens spent (cumulative)": cumulative}
    if budget_tokens:
        series["token budget"] = [budget_tokens] * len(days)
    from bot.reports.charts import line_chart  # matplotlib: imported by the one page that draws

    svg = line_chart("Token burn", labels, series, y_label="tokens", dashed=["token budget"], fmt="svg")
    # The SVG is produced by matplotlib from numbers and our own labels (ISO dates), not from user text.
    return Markup(svg.decode())
