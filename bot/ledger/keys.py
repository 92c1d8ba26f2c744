"""Jira issue keys: validate one, or find every key named in free text (PR titles, branches, bodies)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A project key starts with a letter and holds letters, digits or underscores (Jira's rule).
KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,30}-[1-9][0-9]{0,9}$")
# In free text a key must not be glued to a preceding letter/digit ("XPROJ-1") or a following digit.
_KEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9_]{0,30}-[1-9][0-9]{0,9})(?![0-9])")


class InvalidStoryKey(ValueError):
    pass


def normalize_key(raw: str) -> str:
    """`proj-123` -> `PROJ-123`; anything that is not a Jira key raises InvalidStoryKey."""
    key = raw.strip().upper()
    if not KEY_PATTERN.match(key):
        raise InvalidStoryKey(f"{raw!r} is not a Jira issue key (expected something like PROJ-123)")
    return key


def project_of(key: str) -> str:
    return key.rsplit("-", 1)[0]


def find_keys(texts: Iterable[str | None], projects: Iterable[str] = ()) -> list[str]:
    """Every distinct key named in `texts`, in order of first appearance, limited to `projects` if given."""
    allowed = {p.upper() for p in projects}
    found: list[str] = []
    for text in texts:
        for match in _KEY_IN_TEXT.finditer(text or ""):
            key = match.group(1).upper()
            if allowed and project_of(key) not in allowed:
                continue
            if key not in found:
                found.append(key)
    return found
