"""How the pages say things: money as `$0.71`, `1.2M tokens`, times in the team's zone, statuses as words."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app

from bot.reports import format as fmt

STATUS_WORDS = {
    "no_budget": "no budget",
    "ok": "within budget",
    "warning": "near budget",
    "over": "over budget",
    "overridden": "over, approved",
    "unpriced": "not priced",
}


def money(nano: int | None) -> str:
    """`$0.71`; a cost under a cent keeps its first digits (`$0.0042`) rather than showing `$0.00`."""
    return fmt.small_money(nano)


def tokens(count: int | None) -> str:
    return fmt.tokens(count)


def percent(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{Decimal(value):.0f}%"


def team_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["SETTINGS"].timezone)


def when(value: datetime | None) -> str:
    """`Tue 1 Dec 14:05` in the team's zone (the year only when it is not this year)."""
    if value is None:
        return "-"
    local = value.astimezone(team_zone())
    year = f" {local.year}" if local.year != datetime.now(local.tzinfo).year else ""
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"


def day(value: date | None) -> str:
    return "-" if value is None else fmt.day_label(value)


def status_word(status: str | None) -> str:
    return STATUS_WORDS.get(status or "", (status or "-").replace("_", " "))


def init_app(app) -> None:
    app.jinja_env.filters.update(money=money, tokens=tokens, percent=percent, when=when, day=day,
                                 status_word=status_word)
    app.jinja_env.globals["zone_name"] = lambda: current_app.config["SETTINGS"].timezone
