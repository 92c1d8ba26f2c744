"""Story links are signed (`/stories/KEY?t=...`, a new token each day): compare them with the token cut off."""

from __future__ import annotations

import re

TOKEN = re.compile(r"\?t=[A-Za-z0-9_.\-]+")


def unsigned(value):
    """`value` (text, or dicts and lists of it) with every story link's token removed."""
    if isinstance(value, str):
        return TOKEN.sub("", value)
    if isinstance(value, dict):
        return {k: unsigned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsigned(v) for v in value]
    return value
