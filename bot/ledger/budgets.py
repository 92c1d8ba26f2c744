"""Budgets: parse what people type (`200k`, `$5`, `200k / $5`) and judge a story's spend against its budget."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum

NANO = Decimal(10**9)
TENTH = Decimal("0.1")
_SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_TOKENS = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmb]?)(?:\s*tokens?)?$", re.IGNORECASE)
_USD = re.compile(r"^\$?\s*(\d+(?:\.\d+)?)\s*(?:usd)?$", re.IGNORECASE)
MAX_TOKENS = 10**15
MAX_USD = Decimal("1000000000")


class BudgetError(ValueError):
    pass


def parse_tokens(raw: object) -> int:
    """`200000`, `"200k"`, `"1.5M"`, `"200,000"` -> 200000-style int. Raises BudgetError."""
    if isinstance(raw, bool):
        raise BudgetError("tokens must be a number such as 200000, '200k' or '1.5M'")
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(str(raw))
    elif isinstance(raw, str):
        match = _TOKENS.match(raw.strip().replace(",", "").replace("_", ""))
        if not match:
            raise BudgetError(f"{raw!r} is not a token count (try 200000, '200k' or '1.5M')")
        value = Decimal(match.group(1)) * _SUFFIXES[match.group(2).lower()]
    else:
        raise BudgetError("tokens must be a number such as 200000, '200k' or '1.5M'")
    if value <= 0 or value != value.to_integral_value():
        raise BudgetError(f"{raw!r}: a token budget must be a positive whole number of tokens")
    if value > MAX_TOKENS:
        raise BudgetError(f"{raw!r}: a token budget above {MAX_TOKENS:,} is not plausible")
    return int(value)


def parse_usd(raw: object) -> Decimal:
    """`5`, `"5"`, `"$5.00"`, `"5 USD"` -> Decimal('5.00'). Raises BudgetError."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        raise BudgetError("usd must be an amount such as 5 or '$5.00'")
    text = str(raw).strip().replace(",", "")
    match = _USD.match(text)
    if not match:
        raise BudgetError(f"{raw!r} is not a dollar amount (try 5 or '$5.00')")
    value = Decimal(match.group(1))
    if value <= 0:
        raise BudgetError(f"{raw!r}: a dollar budget must be positive")
    if value > MAX_USD:
        raise BudgetError(f"{raw!r}: a dollar budget above ${MAX_USD:,} is not plausible")
    return value


@dataclass(frozen=True)
class Budget:
    tokens: int | None = None
    usd: Decimal | None = None

    @property
    def is_set(self) -> bool:
        return self.tokens is not None or self.usd is not None


def parse_budget(text: str) -> Budget:
    """Parse a free-text budget as typed in Jira: `200k`, `$5`, `200k / $5`, `$5, 200k`, `200000`."""
    parts = [p for p in re.split(r"\s*(?:/|,\s+|;|\band\b|\+)\s*", text.strip()) if p]
    if not parts:
        raise BudgetError("empty budget")
    tokens: int | None = None
    usd: Decimal | None = None
    for part in parts:
        if "$" in part or part.lower().endswith("usd"):
            if usd is not None:
                raise BudgetError(f"{text!r} names two dollar budgets")
            usd = parse_usd(part)
        else:
            if tokens is not None:
                raise BudgetError(f"{text!r} names two token budgets")
            tokens = parse_tokens(part)
    return Budget(tokens=tokens, usd=usd)


def usd_to_nano(value: Decimal) -> int:
    return int((value * NANO).to_integral_value(rounding=ROUND_HALF_EVEN))


def nano_to_usd(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / NANO).normalize()


class Status(StrEnum):
    NO_BUDGET = "no_budget"
    OK = "ok"
    WARNING = "warning"
    OVER = "over"
    OVERRIDDEN = "overridden"
    UNPRICED = "unpriced"  # a dollar budget, and spend of models without a price: dollars cannot be judged


@dataclass(frozen=True)
class Verdict:
    """A story's standing: the one judgement shared by the PR check, Jira, the digest and preflight."""

    status: Status
    tokens_pct: Decimal | None  # spent / budget * 100, None when no token budget
    usd_pct: Decimal | None  # of the priced spend only when there are unpriced events
    unpriced_events: int = 0  # events in the figures that have no price ("+ N unpriced")

    @property
    def worst_pct(self) -> Decimal | None:
        values = [v for v in (self.tokens_pct, self.usd_pct) if v is not None]
        return max(values) if values else None


def judge(
    *,
    budget_tokens: int | None,
    budget_nano_usd: int | None,
    spent_tokens: int,
    spent_nano_usd: int,
    warn_threshold: Decimal = Decimal("0.8"),
    overridden: bool = False,
    unpriced_events: int = 0,
) -> Verdict:
    """Status of spend against budget: over when either budget is exceeded, warning from the threshold.

    Unpriced events make the dollar figure a lower bound: a story over on tokens (or already over on its
    priced dollars) is still over, but one with a dollar budget is never `ok`/`warning` on a lower bound:
    it is `unpriced` until its models have a price."""
    pairs = [(spent, budget) for spent, budget in ((spent_tokens, budget_tokens), (spent_nano_usd, budget_nano_usd))
             if budget is not None and budget > 0]
    if not pairs:
        return Verdict(Status.NO_BUDGET, None, None, unpriced_events)
    # Compare exact integers, not rounded percentages: 100.04% is over.
    if any(spent > budget for spent, budget in pairs):
        status = Status.OVERRIDDEN if overridden else Status.OVER
    elif unpriced_events and budget_nano_usd:
        status = Status.UNPRICED
    elif any(Decimal(spent) >= warn_threshold * budget for spent, budget in pairs):
        status = Status.WARNING
    else:
        status = Status.OK
    return Verdict(status, _pct(spent_tokens, budget_tokens), _pct(spent_nano_usd, budget_nano_usd),
                   unpriced_events)


def _pct(spent: int, budget: int | None) -> Decimal | None:
    if budget is None or budget <= 0:
        return None
    value = (Decimal(spent) * 100 / Decimal(budget)).quantize(TENTH, rounding=ROUND_HALF_UP)
    # Rounding must not cross the line: 100.04% over budget reads 100.1, 99.97% within it reads 99.9.
    if spent > budget and value <= 100:
        return Decimal("100.1")
    if spent < budget and value >= 100:
        return Decimal("99.9")
    return value
