"""The daily digest: Slack Block Kit message + burn-down chart, and one burn-down comment per active story."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import utcnow
from bot.ledger.budgets import Status
from bot.outbox import enqueue
from bot.reports import blocks as bk
from bot.reports.format import amount, day_label, money, pct, tokens
from bot.reports.scrum.burndown import (
    SprintWindow,
    StoryBurn,
    budget_unit,
    comment_doc,
    triggering_unit,
    when,
    worst_projection,
)
from bot.reports.scrum.chart import burndown_png
from bot.reports.scrum.digest_data import DigestData, SprintFacts, load

SLACK_KIND = "slack.message"
JIRA_KIND = "jira.comment"


@dataclass
class Digest:
    update_key: str
    text: str
    blocks: list[dict]
    chart_png: bytes | None = None
    chart_title: str = ""
    comments: list[tuple[str, list[dict]]] = field(default_factory=list)  # (story key, doc)

    def slack_payload(self) -> dict:
        image = None
        if self.chart_png:
            image = {"title": self.chart_title, "filename": f"{self.update_key.replace(':', '-')}.png",
                     "png_b64": base64.b64encode(self.chart_png).decode()}
        return {"channel": None, "text": self.text, "blocks": self.blocks, "update_key": self.update_key,
                "image": image}


def run(session: Session, settings: Settings, now: datetime | None = None, *, send: bool = True) -> Digest:
    """Compute today's digest; with `send`, enqueue it (Slack message + one Jira comment per story)."""
    digest = build(load(session, settings, now or utcnow()))
    if send:
        enqueue(session, SLACK_KIND, digest.slack_payload(), coalesce_key=f"slack:{digest.update_key}")
        for key, doc in digest.comments:
            enqueue(session, JIRA_KIND, {"key": key, "marker": "burndown", "doc": doc},
                    coalesce_key=f"jira.comment:{key}:burndown")
    return digest


def build(data: DigestData) -> Digest:
    first, last = data.window
    span = day_label(last) if first == last else f"{day_label(first)} – {day_label(last)}"
    blocks: list[dict] = [bk.header(f"Token digest · {day_label(data.today)}")]
    comments: list[tuple[str, list[dict]]] = []
    if not data.sprints:
        blocks.append(bk.section("No active sprint: budgets and burn-down start when a sprint is active."))
    for facts in data.sprints:
        blocks.append(bk.section(_sprint_summary(facts, data)))
        for story in facts.stories:
            comments.append((story.key, comment_doc(story, facts.window, data.now, data.tz,
                                                    _url(data, story.key), data.schedule)))
    stories = [(facts.window, s) for facts in data.sprints for s in facts.stories]
    blocks += _story_lists(stories, data)
    blocks.append(bk.divider())
    unpriced = f" + {data.window_unpriced:,} unpriced" if data.window_unpriced else ""
    blocks.append(bk.lines_section(f"*Biggest spenders, {span}* — {money(data.window_nano)}{unpriced}, "
                                   f"{tokens(data.window_tokens)} tokens", _spenders(data)))
    if data.window_unpriced:
        blocks.append(bk.context(f":warning: {data.window_unpriced:,} events of unknown models are not priced "
                                 "(counted as tokens only): add them to BUDGETBOT_PRICES_FILE"))
    alert_lines = [f"• {bk.escape(a.message)}" for a in data.alerts]
    blocks.append(bk.lines_section(f"*Anomalies since {day_label(first)}*", alert_lines or ["None."]))
    if data.blocked:
        blocks.append(bk.context(f":no_entry: {bk.escape(data.blocked)} — see each story's page"))
    chart = next((f for f in data.sprints if f.window.dated and any(s.budget_nano or s.budget_tokens
                                                                       for s in f.stories)), None)
    thread = " · burn-down chart in the thread" if chart is not None else ""
    blocks.append(bk.context(f"<{data.public_url}/|All stories in budgetbot>{thread} · sent {data.schedule}"))
    digest = Digest(update_key=f"digest:{data.today.isoformat()}", blocks=blocks[:bk.MAX_BLOCKS],
                    text=f"Token digest for {day_label(data.today)}: {money(data.window_nano)} spent {span}",
                    comments=comments)
    if chart is not None:
        digest.chart_title = f"{chart.window.name}: remaining budget"
        digest.chart_png = burndown_png(chart, data.now)
    return digest


def _sprint_summary(facts: SprintFacts, data: DigestData) -> str:
    sprint, stories = facts.window, facts.stories
    head = f"*{bk.escape(sprint.name)}*"
    if sprint.dated:
        head += (f" · day {sprint.day_number(data.now)} of {len(sprint.days())} · ends "
                 f"{day_label(sprint.days()[-1])}")
    if not stories:
        return f"{head}\nNo stories with a budget or spend in this sprint yet."
    unit = budget_unit(stories)
    budgeted = [s for s in stories if s.budget(unit)]
    budget_sum, spent = sum(s.budget(unit) or 0 for s in budgeted), sum(s.spent(unit) for s in budgeted)
    lines = [head, f"Spent *{amount(spent, unit)}* of *{amount(budget_sum, unit)}* budgeted "
                   f"({pct(spent, budget_sum)})" if budget_sum else "No budgets set in this sprint."]
    if sprint.dated and budget_sum:
        start, end = sprint.bounds()
        elapsed = (min(max(data.now, start), end) - start) / (end - start)
        ideal = int(budget_sum * elapsed)
        side = "over" if spent > ideal else "under"
        lines[-1] += (f"; the ideal line is at {amount(ideal, unit)} ({pct(ideal, budget_sum)}) by now, "
                      f"so the sprint is *{side}* it.")
    unbudgeted = sum(s.spent(unit) for s in stories if not s.budget(unit))
    if unbudgeted:
        lines.append(f"Stories without a {'dollar' if unit == 'usd' else 'token'} budget spent "
                     f"{amount(unbudgeted, unit)} more.")
    over = sum(s.status == Status.OVER for s in stories)
    risk = sum(_at_risk(sprint, s, data) is not None for s in stories)
    more = [f"{n} {what}" for n, what in ((sum(s.status == Status.OVERRIDDEN for s in stories), "overrun approved"),
                                          (sum(s.status == Status.UNPRICED for s in stories), "unpriced")) if n]
    lines.append(f"{len(stories)} stories: {over} over budget, {risk} at risk" + "".join(f", {m}" for m in more)
                 + ".")
    return "\n".join(lines)


def _at_risk(sprint: SprintWindow, story: StoryBurn, data: DigestData):
    if story.status not in (Status.OK, Status.WARNING):
        return None
    # The dimension the digest prints for the story is the one it projects.
    projection = worst_projection(story, sprint, data.now, triggering_unit(story))
    if projection is None or projection.rate_per_day is None or projection.pct_at_end <= 100:
        return None
    return projection


def standing(story: StoryBurn, unit: str) -> str:
    """`351k of 400k tokens`, `$4.10 + 2 unpriced of $5.00`: the budget that decides, in its own unit."""
    if unit == "tokens":
        return f"{tokens(story.spent_tokens)} of {tokens(story.budget_tokens)} tokens"
    unpriced = f" + {story.unpriced_events:,} unpriced" if story.unpriced_events else ""
    return f"{money(story.spent_nano)}{unpriced} of {money(story.budget_nano)}"


def _story_lists(stories: list[tuple[SprintWindow, StoryBurn]], data: DigestData) -> list[dict]:
    over: list[tuple] = []
    approved: list[tuple] = []
    unmeasured: list[tuple] = []
    risk: list[tuple] = []
    newly: list[tuple] = []
    for sprint, story in stories:
        unit = triggering_unit(story)
        figures = standing(story, unit)
        share = f"({pct(story.spent(unit), story.budget(unit))})"
        if story.status in (Status.OVER, Status.OVERRIDDEN):
            target = over if story.status == Status.OVER else approved
            budget = story.budget(unit)
            if budget is None:  # over means over a budget in the deciding unit; the division failed here before
                raise TypeError(f"{story.key} is {story.status.value} without a {unit} budget")
            target.append((story.spent(unit) / budget, f"• {_link(data, story)} — {figures} {share}"))
        elif story.status == Status.UNPRICED:
            unmeasured.append((story.unpriced_events, f"• {_link(data, story)} — {money(story.spent_nano)} + "
                                                      f"{story.unpriced_events:,} unpriced of "
                                                      f"{money(story.budget_nano)}: add prices to judge it"))
        elif (projection := _at_risk(sprint, story, data)) is not None:
            runs_out = f", runs out {when(projection.runs_out_at, data.now, data.tz)}" if projection.runs_out_at else ""
            risk.append((projection.pct_at_end, f"• {_link(data, story)} — {figures}, projected "
                                                f"{projection.pct_at_end:.0f}% at sprint end{runs_out}"))
        if story.status == Status.WARNING and story.status_before_window in (Status.OK, Status.NO_BUDGET):
            newly.append((0, f"• {_link(data, story)} — {figures} {share}"))
    found = []
    for title, items in (("Over budget", over), ("Overrun approved", approved), ("Dollars not measured", unmeasured),
                         ("At risk", risk), ("Newly in warning", newly)):
        if items:
            lines = [line for _, line in sorted(items, key=lambda i: -i[0])]
            found.append(bk.lines_section(f"*{title} ({len(items)})*", lines))
    return found or [bk.section("No story is over budget or at risk.")]


def _spenders(data: DigestData) -> list[str]:
    def row(title: str, items, link: bool = False) -> str:
        names = [f"{f'<{_url(data, n)}|{n}>' if link else bk.escape(n or '(not reported)')} {money(nano)}"
                 for n, nano, _ in items]
        return f"*{title}:* " + (" · ".join(names) if names else "no spend")

    return [row("Stories", data.top_stories, link=True), row("Agents", data.top_agents),
            row("Models", data.top_models)]


def _link(data: DigestData, story: StoryBurn) -> str:
    summary = f" {bk.escape(story.summary[:80])}" if story.summary else ""
    return f"<{_url(data, story.key)}|{story.key}>{summary}"


def _url(data: DigestData, key: str) -> str:
    return data.story_url(key)  # signed: whoever reads Slack or Jira opens the story without an account
