"""Formatting shared by the digest, burn-down comments and alerts: money, tokens, days, percentages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

NANO = Decimal(10**9)


def money(nano: int | None, places: int = 2) -> str:
    """Nano-dollars as `$1,234.56` (more places for tiny per-call costs)."""
    if nano is None:
        return "-"
    return dollars(Decimal(nano) / NANO, places)


def dollars(value: Decimal, places: int = 2) -> str:
    """Dollars as `$1,234.56`, rounded half up to `places`; a negative amount reads `-$1.00`."""
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"-${-value:,}" if value < 0 else f"${value:,}"


def small_dollars(value: Decimal) -> str:
    """`$0.71`; an amount under a cent keeps four places (`$0.0042`) rather than reading `$0.00`."""
    return dollars(value, 4 if 0 < abs(value) < Decimal("0.01") else 2)


def small_money(nano: int | None) -> str:
    """Nano-dollars as small_dollars: `$0.71`, `$0.0042` (never `$0.00` for a real cost); None -> `-`."""
    return "-" if nano is None else small_dollars(Decimal(nano) / NANO)


def tokens(count: int | None) -> str:
    """`950`, `12.3k`, `4.56M` tokens: short enough for a table cell."""
    if count is None:
        return "-"
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if abs(count) >= size:
            return f"{count / size:.3g}{suffix}"
    return str(count)


def amount(value: int | None, unit: str) -> str:
    """A budget figure in its own unit: `usd` (nano-dollars) or `tokens`."""
    return money(value) if unit == "usd" else f"{tokens(value)} tokens"


def pct(part: int | Decimal, whole: int | Decimal | None) -> str:
    """Whole percent; rounding never crosses 100: just over budget reads `>100%`, just under `<100%`."""
    if not whole:
        return "-"
    text = f"{Decimal(part) * 100 / Decimal(whole):.0f}%"
    if text == "100%" and part != whole:
        return ">100%" if part > whole else "<100%"
    return text


def day_label(day: date | datetime) -> str:
    """`Mon 30 Mar`, as people say it in a stand-up."""
    return f"{day:%a} {day.day} {day:%b}"
