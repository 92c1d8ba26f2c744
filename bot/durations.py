"""The one duration grammar of the CLIs: a whole number and a unit, `90s`, `30m`, `12h`, `1d`, `2w`."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+)\s*([smhdw])", re.ASCII)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, *, noun: str = "a duration") -> timedelta:
    """`30m`, `12h`, `1d`, `2w`, `90s` (case and surrounding spaces ignored) -> timedelta.

    ValueError otherwise, its message naming the text as `noun` ("an age", "a duration"), so each CLI can turn
    it into its own click error with its own option name."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not {noun}: use a number and a unit, e.g. 30m, 12h, 1d, 2w, 90s")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
