"""What the check says (pure): conclusion, title and a Markdown summary per story, from plain figures."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from bot.ledger.budgets import Status, Verdict, nano_to_usd
from bot.reports.format import small_dollars

SUMMARY_LIMIT = 65_535  # GitHub rejects a longer output.summary
APPROVE = {"label": "Approve overrun", "description": "Accept the overrun; you are recorded",
           "identifier": "approve-overrun"}
REVOKE = {"label": "Revoke approval", "description": "Fail the check again while over",
          "identifier": "revoke-override"}
# Worst first: the title speaks of the story that decides the conclusion.
_RANK = {Status.OVER: 0, Status.UNPRICED: 1, Status.OVERRIDDEN: 2, Status.WARNING: 3, Status.OK: 4,
         Status.NO_BUDGET: 5}
_ICON = {Status.OVER: "❌", Status.UNPRICED: "❔", Status.OVERRIDDEN: "✅", Status.WARNING: "⚠️", Status.OK: "✅",
         Status.NO_BUDGET: "➖"}


@dataclass(frozen=True)
class StoryFigures:
    key: str
    verdict: Verdict
    summary: str | None = None
    budget_tokens: int | None = None
    budget_nano_usd: int | None = None
    spent_tokens: int = 0
    spent_nano_usd: int = 0
    unpriced_events: int = 0
    top_models: list[dict] = field(default_factory=list)  # bot.ledger.read.breakdown rows
    top_agents: list[dict] = field(default_factory=list)
    unpriced_models: list[str] = field(default_factory=list)  # exact ids of the events without a price
    jira_url: str | None = None
    page_url: str | None = None


@dataclass(frozen=True)
class Approval:
    by: str
    at: datetime
    source: str  # label | check_action


@dataclass(frozen=True)
class CheckOutput:
    conclusion: str  # success | neutral | failure
    title: str
    summary: str
    details_url: str | None
    actions: list[dict]


def compose(stories: list[StoryFigures], approval: Approval | None, *, override_label: str,
            warn_threshold: Decimal, limit: int = SUMMARY_LIMIT) -> CheckOutput:
    """The check for a head SHA whose PRs name `stories` (verdicts already judged with the approval)."""
    if not stories:
        return CheckOutput("neutral", "No story linked", _no_story_help(), None, [])
    ranked = sorted(stories, key=lambda s: (_RANK[s.verdict.status], -(s.verdict.worst_pct or 0)))
    head = ranked[0]
    statuses = {s.verdict.status for s in stories}
    if statuses == {Status.NO_BUDGET}:
        conclusion, lead = "neutral", _no_budget_lead(stories)
    elif Status.OVER in statuses:
        over = [s.key for s in ranked if s.verdict.status == Status.OVER]
        conclusion = "failure"
        lead = (f"**Over budget:** {_join(over)} spent more than {'its' if len(over) == 1 else 'their'} budget. "
                f"A maintainer can accept the overrun with the {_code(override_label)} label or the "
                "**Approve overrun** button above; the approval is recorded.")
    elif Status.UNPRICED in statuses:
        # Not success: the dollars are a lower bound, so the dollar budget is not checked (issue 12).
        conclusion, lead = "neutral", _unpriced_lead([s for s in ranked if s.verdict.status == Status.UNPRICED])
    else:
        conclusion, lead = "success", "**Within budget.**"
        if Status.OVERRIDDEN in statuses and approval is not None:
            lead = (f"**Overrun approved** by @{_md(approval.by)} on {approval.at:%Y-%m-%d %H:%M} UTC "
                    f"({_source(approval, override_label)}). Remove the label or press **Revoke approval** "
                    "to undo it.")
    warnings = [f"⚠️ {s.key} has used {_pct(s.verdict.worst_pct, False)} of its budget "
                f"(warning from {warn_threshold * 100:.0f}%)." for s in ranked if s.verdict.status == Status.WARNING]
    unbudgeted = [s.key for s in ranked if s.verdict.status == Status.NO_BUDGET]
    if unbudgeted and conclusion != "neutral":
        one = len(unbudgeted) == 1
        warnings.append(f"➖ {_join(unbudgeted)} {'has' if one else 'have'} no budget and "
                        f"{'is' if one else 'are'} not checked.")
    title = _title(head, approval) + (f" · +{len(stories) - 1} more" if len(stories) > 1 else "")
    intro = "\n\n".join([lead, *warnings])
    if conclusion == "neutral" and Status.UNPRICED not in statuses:
        intro += "\n\n" + _budget_help(stories[0].key)
    summary = _fit(intro, [_section(s) for s in ranked], limit)
    actions = [APPROVE] if conclusion == "failure" else [REVOKE] if Status.OVERRIDDEN in statuses else []
    return CheckOutput(conclusion, title, summary, head.page_url, actions)


def _unpriced_lead(stories: list[StoryFigures]) -> str:
    models = sorted({model for s in stories for model in s.unpriced_models})
    events = sum(s.unpriced_events for s in stories)
    names = ", ".join(_code(m) for m in models[:10]) + (f" and {len(models) - 10} more" if len(models) > 10 else "")
    return (f"**Dollar budget not checked:** {_join([s.key for s in stories])} "
            f"{'has' if len(stories) == 1 else 'have'} {events:,} event(s) of models without a price "
            f"({names or 'unknown models'}), so the dollars spent are unknown, not $0. Add a price for "
            f"{'it' if len(models) == 1 else 'them'} to the file named by `BUDGETBOT_PRICES_FILE` "
            "(`[models.\"NAME\"]` with `input_mtok` and `output_mtok` rates), or send the call's `cost_usd` "
            "with each event; the token budget is checked as usual.")


def unpriced_suffix(count: int) -> str:
    """" + 3 unpriced": said after every dollar figure that leaves unpriced events out."""
    return f" + {count:,} unpriced" if count else ""


def _title(story: StoryFigures, approval: Approval | None) -> str:
    if story.verdict.status == Status.NO_BUDGET:
        return f"{story.key}: no budget set · {short_tokens(story.spent_tokens)} tokens · " \
               f"{money(story.spent_nano_usd)}{unpriced_suffix(story.unpriced_events)} spent"
    parts = []
    over = story.verdict.status in (Status.OVER, Status.OVERRIDDEN)
    if story.budget_tokens:
        parts.append(f"{short_tokens(story.spent_tokens)} / {short_tokens(story.budget_tokens)} tokens "
                     f"({_pct(story.verdict.tokens_pct, over and story.spent_tokens > story.budget_tokens)})")
    if story.budget_nano_usd:
        usd = f"{money(story.spent_nano_usd)}{unpriced_suffix(story.unpriced_events)} / {money(story.budget_nano_usd)}"
        if story.verdict.status == Status.UNPRICED:
            usd += " (not checked: unpriced models)"
        elif not story.budget_tokens:  # one budget: show its percent; two: the token percent leads, as people read it
            usd += f" ({_pct(story.verdict.usd_pct, over)})"
        parts.append(usd)
    if story.verdict.status == Status.OVERRIDDEN and approval is not None:
        parts.append(f"overrun approved by @{approval.by}")
    return f"{story.key}: " + " · ".join(parts)


def _section(story: StoryFigures) -> str:
    status = story.verdict.status
    heading = f"### {_ICON[status]} {story.key}" + (f" · {_md(_clip(story.summary, 200))}" if story.summary else "")
    links = [f"[Jira]({story.jira_url})" if story.jira_url else None,
             f"[budgetbot]({story.page_url})" if story.page_url else None]
    rows = ["| | Budget | Spent | % |", "|---|--:|--:|--:|"]
    rows.append(f"| Tokens | {_num(story.budget_tokens)} | {story.spent_tokens:,} | "
                f"{_cell_pct(story.verdict.tokens_pct, story.spent_tokens, story.budget_tokens)} |")
    rows.append(f"| USD | {money(story.budget_nano_usd) if story.budget_nano_usd else '—'} | "
                f"{money(story.spent_nano_usd)}{unpriced_suffix(story.unpriced_events)} | "
                f"{_cell_pct(story.verdict.usd_pct, story.spent_nano_usd, story.budget_nano_usd)} |")
    lines = [heading, " · ".join(link for link in links if link), "", *rows, "",
             f"- Status: **{status.value.replace('_', ' ')}**"]
    if story.unpriced_events:
        lines.append(f"- {story.unpriced_events:,} event(s) of unknown models are unpriced (not counted as $0)")
    for label, top in (("Top models", story.top_models), ("Top agents", story.top_agents)):
        if top:
            lines.append(f"- {label}: " + "; ".join(
                f"{_md(row['name'] or '(none)')} {money_text(row['usd'])} · {short_tokens(row['tokens'])} tokens"
                for row in top[:3]))
    return "\n".join(line for line in lines if line is not None)


def _fit(intro: str, sections: list[str], limit: int) -> str:
    """Whole story sections while they fit, then a note saying how many were left out."""
    text = intro
    for index, section in enumerate(sections):
        left = len(sections) - index
        note = (f"\n\n_… {left} more {'story' if left == 1 else 'stories'} not shown: a check summary is limited "
                f"to {limit:,} characters._")
        candidate = f"{text}\n\n{section}"
        if len(candidate) + (len(note) if index < len(sections) - 1 else 0) > limit:
            return (text[: limit - len(note)] + note) if len(text) + len(note) > limit else text + note
        text = candidate
    return text[:limit]


def _no_story_help() -> str:
    return ("**No Jira story is linked to this pull request**, so there is no budget to check.\n\n"
            "Name the story in the PR title, the branch or the description — for example a title "
            "`PROJ-123: retry uploads`, a branch `feature/PROJ-123-retry` or `[PROJ-123]` in the body — "
            "and push or edit the PR; this check updates itself.\n\n" + _budget_help("PROJ-123"))


def _no_budget_lead(stories: list[StoryFigures]) -> str:
    keys = [s.key for s in stories]
    return f"**No budget set** for {_join(keys)}, so there is nothing to check against yet."


def _budget_help(key: str) -> str:
    return ("Set a budget on the story: fill in the **Token Budget** field in Jira (`200k`, `$5` or `200k / $5`), "
            f"or run `budgetbot budget set {key} 200k '$5'`, or `PUT /api/v1/stories/{key}/budget` with "
            '`{"tokens": "200k", "usd": "$5"}`.')


def _source(approval: Approval, label: str) -> str:
    return f"label {_code(label)}" if approval.source == "label" else "the **Approve overrun** button"


def short_tokens(n: int | None) -> str:
    """182000 -> 182k, 1500000 -> 1.5M: the compact figure people say aloud."""
    if n is None:
        return "—"
    for suffix, size in (("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(n) >= size:
            value = Decimal(n) / size
            text = f"{value.quantize(Decimal('1') if value >= 100 else Decimal('0.1'), ROUND_HALF_UP)}"
            return text.removesuffix(".0") + suffix
    return str(n)


def money(nano: int | None) -> str:
    return "—" if nano is None else money_text(str(nano_to_usd(nano)))


def money_text(usd: str | None) -> str:
    """Dollars to cents; sub-cent spend keeps four places so a cheap story does not read as $0.00."""
    return "—" if usd is None else small_dollars(Decimal(usd))


def _pct(value: Decimal | None, over: bool) -> str:
    if value is None:
        return "—"
    whole = value.quantize(Decimal("1"), ROUND_HALF_UP)
    if over and whole <= 100:
        return ">100%"  # 100.04% is over; never print "100%" on a failing check
    if 0 < value < 1:
        return "<1%"
    return f"{whole}%"


def _cell_pct(value: Decimal | None, spent: int, budget: int | None) -> str:
    return _pct(value, budget is not None and spent > budget)


def _num(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _join(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


# Mid-line, only these make Markdown of plain text (links, emphasis, code, table cells); html.escape takes <>&.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"  # nothing is escaped inside a code span, so keep backticks out


def _md(text: str) -> str:
    """Text from Jira, agents or PR authors, made inert in GitHub Markdown (no links, HTML or table breaks)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))
