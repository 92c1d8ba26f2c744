"""Comment documents (the `jira.comment` block list) rendered as ADF (Cloud, v3) or wiki markup (Data Center, v2)."""

from __future__ import annotations

import re

# The hidden marker: a comment property (invisible in the UI, returned with ?expand=properties) on both
# deployments, plus an invisible {anchor} in wiki markup. ADF has no invisible text node.
PROPERTY_KEY = "budgetbot"
BLOCK_TYPES = {"heading", "paragraph", "bullets", "table", "link", "mention"}


class DocError(ValueError):
    """A `jira.comment` payload that does not follow the contract."""


def validate(doc: object) -> list[dict]:
    if not isinstance(doc, list) or not doc:
        raise DocError("doc must be a non-empty list of blocks")
    for index, block in enumerate(doc):
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            raise DocError(f"doc[{index}]: type must be one of {sorted(BLOCK_TYPES)}")
    return doc


def marker_property(marker: str) -> dict:
    return {"key": PROPERTY_KEY, "value": {"marker": marker}}


# --- Atlassian Document Format -------------------------------------------------------------------

def _text(value: object, marks: list | None = None) -> list[dict]:
    text = str(value if value is not None else "")
    if not text:
        return []  # ADF rejects empty text nodes
    node: dict = {"type": "text", "text": text}
    if marks:
        node["marks"] = marks
    return [node]


def _para(content: list[dict]) -> dict:
    return {"type": "paragraph", "content": content}


def _cell(kind: str, value: object) -> dict:
    return {"type": kind, "attrs": {}, "content": [_para(_text(value))]}


def to_adf(doc: list[dict]) -> dict:
    content = []
    for block in validate(doc):
        kind = block["type"]
        if kind == "heading":
            content.append({"type": "heading", "attrs": {"level": 3}, "content": _text(block.get("text"))})
        elif kind == "paragraph":
            content.append(_para(_text(block.get("text"))))
        elif kind == "bullets":
            items = [{"type": "listItem", "content": [_para(_text(item))]} for item in block.get("items") or []]
            if items:
                content.append({"type": "bulletList", "content": items})
        elif kind == "table":
            rows = [{"type": "tableRow", "content": [_cell("tableHeader", h) for h in block.get("header") or []]}]
            rows += [{"type": "tableRow", "content": [_cell("tableCell", c) for c in row]}
                     for row in block.get("rows") or []]
            content.append({"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
                            "content": rows})
        elif kind == "link":
            content.append(_para(_text(block.get("text") or block.get("url"),
                                       [{"type": "link", "attrs": {"href": str(block.get("url"))}}])))
        elif kind == "mention" and block.get("account_id"):
            content.append(_para([{"type": "mention", "attrs": {"id": str(block["account_id"])}}]))
    return {"type": "doc", "version": 1, "content": content}


# --- wiki markup ---------------------------------------------------------------------------------

_WIKI_SPECIAL = re.compile(r"([\\\[\]{}|*_+^~!#?\-])")


def escape_wiki(value: object) -> str:
    """Plain text that wiki markup shows as typed (no bold, links, macros or tables)."""
    text = _WIKI_SPECIAL.sub(r"\\\1", str(value if value is not None else ""))
    return re.sub(r"^(h[1-6]|bq)\.", r"\1\\.", text, flags=re.MULTILINE)


def _wiki_cell(value: object) -> str:
    return escape_wiki(value).replace("\r", " ").replace("\n", " ") or " "


def to_wiki(doc: list[dict], marker: str) -> str:
    lines = ["{anchor:budgetbot-" + re.sub(r"[^A-Za-z0-9_-]", "-", marker) + "}"]
    for block in validate(doc):
        kind = block["type"]
        if kind == "heading":
            lines.append("h3. " + escape_wiki(block.get("text")).replace("\n", " "))
        elif kind == "paragraph":
            lines.append(escape_wiki(block.get("text")))
        elif kind == "bullets":
            lines.append("\n".join("* " + _wiki_cell(item) for item in block.get("items") or []))
        elif kind == "table":
            table = ["||" + "||".join(_wiki_cell(h) for h in block.get("header") or []) + "||"]
            table += ["|" + "|".join(_wiki_cell(c) for c in row) + "|" for row in block.get("rows") or []]
            lines.append("\n".join(table))
        elif kind == "link":
            url = str(block.get("url") or "").replace("|", "%7C").replace("]", "%5D")
            lines.append(f"[{_wiki_cell(block.get('text') or url)}|{url}]")
        elif kind == "mention" and block.get("account_id"):
            # Data Center mentions take the username (the "account_id" of a Data Center user).
            lines.append("[~" + re.sub(r"[\]\s]", "", str(block["account_id"])) + "]")
    return "\n\n".join(line for line in lines if line)
