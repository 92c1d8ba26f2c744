"""Renders the retro report dict: the shared display formats, a block document (Jira's comment contract),
Markdown made from that document, JSON, and the self-contained HTML page."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bot.reports import blocks, charts

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
OVERRUN_STORIES = 10  # over-budget stories detailed in a posted (row-limited) report


def money(value: str | None, unpriced: int = 0, none: str = "unpriced") -> str:
    """`"1234.5"` -> `$1,234.50`; None -> `unpriced` (never $0); a partial price says what it misses.

    Kept apart from bot.reports.format.money: the retro shows up to 6 significant decimals of tiny amounts
    with trailing zeros dropped (`$0.00012`), which its tests assert."""
    if value is None:
        return none
    amount = Decimal(value)
    # Cents for dollars; small amounts keep up to 4 decimals (6 below $0.0001) so they do not read as $0.00.
    places = 2 if amount == 0 or abs(amount) >= 1 else 4 if abs(amount) >= Decimal("0.0001") else 6
    text = f"{amount.quantize(Decimal(10) ** -places, rounding=ROUND_HALF_UP):,f}"
    if places > 2:
        whole, _, decimals = text.partition(".")
        text = f"{whole}.{decimals.rstrip('0'):0<2}"
    text = f"${text}".replace("$-", "-$")
    return f"{text} (+{unpriced:,} unpriced)" if unpriced else text


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def percent(value: str | None) -> str:
    return "-" if value is None else f"{value}%"


def times(value: str | None) -> str:
    return "-" if value is None else f"{value}×"


def per_unit(value: str | None, denominator) -> str:
    """A cost per story or point: `-` when there is nothing to divide by, `unpriced` when nothing was priced."""
    return money(value) if denominator and Decimal(str(denominator)) else "-"


def row_money(row: dict) -> str:
    return money(row["usd"], row["unpriced_events"])


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


# --- the block document: Jira comment blocks, also the source of Markdown and Slack -------------------------

def _table(header: list[str], rows: list[list[str]], limit: int | None, empty: str = "None.") -> list[dict]:
    if not rows:
        return [_para(empty)]
    out = [{"type": "table", "header": header, "rows": rows[:limit] if limit else rows}]
    if limit and len(rows) > limit:
        out.append({"type": "paragraph", "text": f"... and {len(rows) - limit} more rows (see the full report: "
                                                 "budgetbot retro --format html)."})
    return out


def _para(text: str) -> dict:
    return {"type": "paragraph", "text": text}


def _head(text: str) -> dict:
    return {"type": "heading", "text": text}


def _share_rows(rows: list[dict]) -> list[list[str]]:
    return [[r["name"], count(r["tokens"]), row_money(r), count(r["events"])] for r in rows]


def to_doc(r: dict, limit: int | None = None) -> list[dict]:
    """The report as heading/paragraph/bullets/table blocks; `limit` caps table rows (for Slack and Jira)."""
    h, card = r["headline"], r["scorecard"]
    doc = [_head(f"Retro: {r['period']['label']}"),
           _para(f"{r['period']['start']} to {r['period']['end']}"
                 + (f", project {r['period']['project']}" if r["period"]["project"] else "")
                 + f". Spent {money(h['usd'], h['unpriced_events'])} on {count(h['tokens'])} tokens in "
                   f"{count(h['events'])} model calls across {h['stories']} stories."),
           _head("1. Financial Definition of Done"),
           _para(f"Pass rate {percent(card['pass_rate_pct'])}: {card['passed']} of {card['budgeted']} budgeted "
                 f"{'measured ' if card.get('unmeasured') else ''}stories within budget; {card['over']} over, "
                 f"{card['overridden']} over with an approved override; "
                 + (f"{card['unmeasured']} unmeasured (a dollar budget and unpriced models: not counted as passed); "
                    if card.get("unmeasured") else "")
                 + f"failed goals (≥ 300%): {', '.join(card['failed_goals']) or 'none'}."),
           *_table(["Story", "Budget", "Spent", "%", "Status", "Resolved", "PR check"],
                   [[s["key"] + (" ✗ failed goal" if s["failed_goal"] else ""), _budget(s["budget"]),
                     f"{count(s['spent']['tokens'])} / {money(s['spent']['usd'], s['spent']['unpriced_events'])}",
                     _percents(s["percent"]), s["status"], "yes" if s["resolved"] else "no", _check(s["pr_check"])]
                    for s in card["stories"]], limit, "No stories in this period."),
           _para(card["definition"])]
    acc = r["estimate_accuracy"]
    doc += [_head("2. Estimate accuracy"),
            _para(f"Actual / budget: median {times(acc['median'])}, middle half {times(acc['p25'])} to "
                  f"{times(acc['p75'])}, range {times(acc['min'])} to {times(acc['max'])}. No budget: "
                  f"{', '.join(acc['no_budget']) or 'none'}."
                  + (f" Unpriced, not measurable: {', '.join(acc['unmeasured'])}." if acc["unmeasured"] else ""))]
    doc += _overruns(r["overruns"], limit)
    c = r["caching"]
    doc += [_head("4. Caching"),
            _para(f"{percent(c['share_pct'])} of {count(c['input_tokens'])} input tokens were served from cache, "
                  f"saving {money(c['saved_usd'])}."
                  + (f" Not priced: {', '.join(c['unpriced_models'])}." if c["unpriced_models"] else "")),
            *_table(["Model", "Input tokens", "From cache", "Saved"],
                    [[m["model"], count(m["input_tokens"]), percent(m["share_pct"]), money(m["saved_usd"])]
                     for m in c["by_model"]], limit),
            _para(c["basis"])]
    rt = r["routing"]
    doc += [_head("5. Model routing (estimate)"),
            _para(f"Premium models cost {money(rt['premium_usd'])}; the same tokens on a cheaper model of the "
                  f"same provider would have cost about {money(rt['alternative_usd'])} (estimate)."),
            *_table(["Model", "Alternative", "Tokens", "Actual", "Estimate on alternative"],
                    [[m["model"], m["alternative"], count(m["tokens"]), money(m["actual_usd"]),
                      money(m["alternative_usd"])] for m in rt["models"]], limit),
            _para(rt["basis"])]
    e = r["unit_economics"]
    doc += [_head("6. Unit economics"),
            _para(f"{e['resolved_stories']} resolved stories: "
                  f"{per_unit(e['cost_per_resolved_story_usd'], e['resolved_stories'])} per resolved story (their "
                  f"lifetime spend), {per_unit(e['fully_loaded_cost_per_resolved_story_usd'], e['resolved_stories'])}"
                  f" fully loaded (all spend in the period / resolved stories), "
                  f"{per_unit(e['cost_per_story_point_usd'], e['story_points'])} per story point "
                  f"({e['story_points']} points)."
                  + (f" Excludes {e['unpriced_events']:,} unpriced events." if e["unpriced_events"] else ""))]
    doc.append(_head("7. Showback"))
    for name, rows in r["showback"].items():
        doc += [_para(f"By {name.replace('_', ' ')}:"),
                *_table([name.replace("_", " ").title(), "Tokens", "Spend", "Calls"], _share_rows(rows), limit)]
    an = r["anomalies"]
    doc.append(_head("8. Anomalies"))
    if not an["alerts"]:
        doc.append(_para("No anomalies were raised in this period."))
    else:
        doc += _table(["When", "Rule", "Subject", "Alert"],
                      [[a["at"] or "", a["rule"], a["subject"], a["message"]] for a in an["alerts"]], limit)
    doc += [_head("9. Trend"),
            *_table(["Period", "Spend", "Tokens", "Pass rate", "Failed goals", "Cache share", "Per resolved story"],
                    [[t["label"], money(t["usd"], t["unpriced_events"]), count(t["tokens"]),
                      percent(t["pass_rate_pct"]), str(t["failed_goals"]), percent(t["cache_share_pct"]),
                      per_unit(t["cost_per_resolved_story_usd"], t["resolved"])] for t in r["trend"]], None)]
    sb = r["suggested_budgets"]
    doc += [_head("10. Suggested budgets"),
            *_table(["Stories like", "Based on", "Median used", "Suggested budget"],
                    [[g["group"], f"{g['stories']} stories",
                      f"{count(g['median_tokens'])} / {money(g['median_usd'], none='-')}",
                      f"{count(g['suggested_tokens'])} / {money(g['suggested_usd'], none='-')}"] for g in sb["groups"]],
                    limit, "Not enough resolved stories to suggest budgets yet."),
            _para(sb["method"] + (f" Too few: {', '.join(sb['too_few'])}." if sb["too_few"] else ""))]
    return doc


def _overruns(o: dict, limit: int | None) -> list[dict]:
    doc = [_head("3. Where the overruns went")]
    if not o["stories"]:
        doc.append(_para("No story is over budget."))
    shown = o["stories"][:OVERRUN_STORIES] if limit else o["stories"]
    for s in shown:
        growth = f"; input per call grew {times(s['context_growth'])}" if s["context_growth"] else ""
        doc.append(_para(f"{s['key']} ({s['status']}, {times(s['ratio'])} budget): failed calls "
                         f"{count(s['errors']['events'])}, {count(s['errors']['tokens'])} tokens{growth}."))
        doc += _table(["By", "Name", "Tokens", "Spend"],
                      [["agent", x["name"], count(x["tokens"]), row_money(x)] for x in s["by_agent"]]
                      + [["model", x["name"], count(x["tokens"]), row_money(x)] for x in s["by_model"]]
                      + [["run", x["run_id"], count(x["tokens"]), money(x["usd"])] for x in s["top_runs"]], limit)
    if len(shown) < len(o["stories"]):
        doc.append(_para(f"... and {len(o['stories']) - len(shown)} more over-budget stories (see the full report)."))
    err = o["errors"]
    doc.append(_para(f"Calls that ended in error: {count(err['events'])}, {count(err['tokens'])} tokens, "
                     f"{row_money(err)}. Most expensive runs:"))
    doc += _table(["Run", "Story", "Agent", "Calls", "Errors", "Tokens", "Spend"],
                  [[x["run_id"], x["story"] or "-", x["agent"] or "-", count(x["events"]), count(x["errors"]),
                    count(x["tokens"]), row_money(x)] for x in o["top_runs"]], limit)
    return doc


def _budget(budget: dict) -> str:
    parts = [count(budget["tokens"])] if budget["tokens"] is not None else []
    parts += [money(budget["usd"])] if budget["usd"] is not None else []
    return " / ".join(parts) or "none"


def _percents(p: dict) -> str:
    return " / ".join(percent(v) for v in (p["tokens"], p["usd"]) if v is not None) or "-"


def _check(check: dict) -> str:
    if check["override_by"]:
        return f"{check['conclusion']}, override by {check['override_by']}"
    return check["conclusion"]


def _md_table(block: dict, _index: int) -> list[str]:
    return [_md_row(block["header"]), "|" + "---|" * len(block["header"]) + "\n",
            *[_md_row(row) for row in block["rows"]], "\n"]


MARKDOWN: dict[str, blocks.Renderer] = {
    "heading": lambda b, index: ["# " if index == 0 else "## ", b["text"], "\n\n"],
    "paragraph": lambda b, _: [b["text"], "\n\n"],
    "table": _md_table,
}


def to_markdown(report: dict, limit: int | None = None) -> str:
    return "".join(blocks.walk(to_doc(report, limit), MARKDOWN)).rstrip() + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |\n"


def trend_svg(report: dict) -> Markup | None:
    """The trend chart (spend per period) as inline SVG, from the renderer the digest uses."""
    trend = report["trend"]
    if len(trend) < 2:
        return None
    values = [float(t["usd"]) if t["usd"] is not None else None for t in trend]
    svg = charts.line_chart("Spend per period (USD)", [t["label"] for t in trend], {"spend": values},
                            y_label="USD", fmt="svg").decode()
    return Markup(svg[svg.index("<svg"):])  # matplotlib escapes its text; drop the XML prolog for inlining


def to_html(report: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters.update(money=money, count=count, percent=percent, times=times, row_money=row_money,
                       per_unit=per_unit)
    return env.get_template("retro.html").render(r=report, chart=trend_svg(report))
