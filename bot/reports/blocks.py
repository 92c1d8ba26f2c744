"""Slack Block Kit builders within Slack's limits, and plain-text renderings of Slack blocks and Jira docs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150


def escape(text: str) -> str:
    """Slack mrkdwn control characters; everything else is shown as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:MAX_HEADER], "emoji": True}}


def section(text: str) -> dict:
    if len(text) > MAX_SECTION:
        text = text[:MAX_SECTION - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def lines_section(title: str, lines: list[str]) -> dict:
    """A title and as many whole lines as fit in one section, then `…and N more`."""
    text = title
    for shown, line in enumerate(lines):
        rest = len(lines) - shown - 1
        tail = f"\n…and {rest} more" if rest else ""
        if len(text) + 1 + len(line) + len(tail) > MAX_SECTION:
            text += f"\n…and {len(lines) - shown} more"
            break
        text += "\n" + line
    return section(text)


def chunks(lines: list[str], limit: int = MAX_SECTION, wrap: tuple[str, str] = ("", "")) -> list[str]:
    """Join lines into texts of at most `limit` characters each (including `wrap`); a line too long is cut."""
    room = limit - len(wrap[0]) - len(wrap[1])
    out, current = [], ""
    for line in lines:
        line = line if len(line) <= room else line[:room - 1] + "…"
        if current and len(current) + 1 + len(line) > room:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return [f"{wrap[0]}{chunk}{wrap[1]}" for chunk in out]


def sections(lines: list[str], wrap: tuple[str, str] = ("", "")) -> list[dict]:
    """As many sections as the lines need, each within Slack's section limit."""
    return [section(text) for text in chunks(lines, MAX_SECTION, wrap)]


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_SECTION]}]}


def divider() -> dict:
    return {"type": "divider"}


def slack_as_text(blocks: list[dict]) -> str:
    """Blocks as a person would read them in Slack (for `budgetbot digest --dry-run`)."""
    out = []
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            out.append(f"=== {block['text']['text']} ===")
        elif kind == "section":
            out.append(_unmrkdwn(block["text"]["text"]))
        elif kind == "context":
            out.append("  " + " ".join(_unmrkdwn(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            out.append("-" * 40)
        else:
            out.append(f"[{kind}]")
    return "\n".join(out)


def _unmrkdwn(text: str) -> str:
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --- the block document (heading, paragraph, bullets, table, link, mention): one walker, a renderer per kind ----

Renderer = Callable[[dict, int], list[str]]


def walk(doc: list[dict], renderers: Mapping[str, Renderer]) -> list[str]:
    """Each block through the renderer of its kind (with its index in the doc); kinds without one are skipped."""
    out: list[str] = []
    for index, block in enumerate(doc):
        render = renderers.get(block["type"])
        if render is not None:
            out += render(block, index)
    return out


def _text_table(block: dict, _index: int) -> list[str]:
    rows = [block["header"], *block["rows"]]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(block["header"]))]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


TEXT: dict[str, Renderer] = {
    "heading": lambda b, _: [f"## {b['text']}"],
    "paragraph": lambda b, _: [b["text"]],
    "bullets": lambda b, _: [f"  - {item}" for item in b["items"]],
    "table": _text_table,
    "link": lambda b, _: [f"{b['text']}: {b['url']}"],
    "mention": lambda b, _: [f"@{b['account_id']}"],
}


def doc_as_text(doc: list[dict]) -> str:
    """A Jira comment (contract blocks) as plain text."""
    return "\n".join(walk(doc, TEXT))
