"""`--post`: the retro enqueued as Slack messages (split to Block Kit's limits) or one Jira comment (marker retro)."""

from __future__ import annotations

import base64

from sqlalchemy.orm import Session

from bot.outbox import enqueue
from bot.reports import blocks, charts
from bot.reports.blocks import MAX_BLOCKS, escape
from bot.reports.blocks import MAX_SECTION as MAX_SECTION  # re-exported: the limit a section is split to
from bot.reports.retro.render import to_doc

POST_ROWS = 25  # table rows in a posted report; the file formats carry them all


def _table_lines(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def slack_blocks(doc: list[dict]) -> list[list[dict]]:
    """Block Kit blocks, grouped per heading: a section's text never exceeds 3,000 characters."""
    groups: list[list[dict]] = []
    for block in doc:
        kind = block["type"]
        if kind == "heading" or not groups:
            groups.append([])
        if kind == "heading":
            groups[-1].append(blocks.header(block["text"]))
        elif kind == "paragraph":
            groups[-1] += blocks.sections(escape(block["text"]).split("\n"))
        elif kind == "bullets":
            groups[-1] += blocks.sections([f"• {escape(i)}" for i in block["items"]])
        elif kind == "table":
            lines = [escape(line) for line in _table_lines(block["header"], block["rows"])]
            groups[-1] += blocks.sections(lines, ("```\n", "\n```"))
        elif kind == "link":
            groups[-1].append(blocks.section(f"<{block['url']}|{escape(block['text'])}>"))
    return groups


def slack_messages(doc: list[dict], max_blocks: int = MAX_BLOCKS) -> list[list[dict]]:
    """Pack the heading groups into messages of at most `max_blocks` blocks, keeping a part together when it fits."""
    messages: list[list[dict]] = [[]]
    for group in slack_blocks(doc):
        if len(messages[-1]) + len(group) > max_blocks and messages[-1]:
            messages.append([])
        for block in group:
            if len(messages[-1]) == max_blocks:
                messages.append([])
            messages[-1].append(block)
    return [m for m in messages if m]


def post_slack(session: Session, report: dict, channel: str | None = None) -> list[dict]:
    """Enqueue the report as `slack.message` rows; re-posting the same period edits the same messages."""
    label = report["period"]["label"]
    messages = slack_messages(to_doc(report, POST_ROWS))
    key = f"retro:{label}:{report['period']['project'] or '*'}"
    payloads = []
    for index, message in enumerate(messages, start=1):
        payload = {"channel": channel, "text": f"Retro: {label} ({index}/{len(messages)})", "blocks": message,
                   "update_key": f"{key}:{index}", "image": _trend_image(report) if index == 1 else None}
        enqueue(session, "slack.message", payload, coalesce_key=f"slack:{key}:{index}")
        payloads.append(payload)
    return payloads


def _trend_image(report: dict) -> dict | None:
    trend = report["trend"]
    if len(trend) < 2:
        return None
    png = charts.line_chart("Spend per period (USD)", [t["label"] for t in trend],
                            {"spend": [float(t["usd"]) if t["usd"] is not None else None for t in trend]},
                            y_label="USD", fmt="png")
    return {"title": f"Spend trend to {report['period']['label']}", "filename": "retro-trend.png",
            "png_b64": base64.b64encode(png).decode()}


def post_jira(session: Session, report: dict, key: str) -> dict:
    """Enqueue one `jira.comment` on `key` (marker `retro`: a later retro edits the same comment)."""
    payload = {"key": key, "marker": "retro", "doc": to_doc(report, POST_ROWS)}
    enqueue(session, "jira.comment", payload, coalesce_key=f"jira-comment:{key}:retro")
    return payload
