"""Caching savings and the model-routing estimate: pure functions over per-model token sums and price rates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from bot.ledger.pricing import MTOK, ModelRates

# The cheaper model each provider's premium models are compared with. Overridable per run
# (`--route provider=model`): the point is a like-for-like "same vendor, smaller model" question.
ECONOMY_MODELS = {
    "anthropic": "claude-haiku-4-5",
    "openai": "gpt-5-mini",
    "google": "gemini-2.5-flash",
}

RatesOf = Callable[[str, str | None], ModelRates | None]


@dataclass(frozen=True)
class ModelTokens:
    """Ledger sums for one model (and the provider the events named)."""

    model: str
    provider: str | None
    events: int
    unpriced_events: int
    input_tokens: int  # includes cache reads and writes
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    nano_usd: int


def base_rate(rates: ModelRates, key: str) -> Decimal | None:
    rate = rates.rates.get(key)
    return None if rate is None else rate.base


def estimate_cost(rates: ModelRates, tokens: ModelTokens) -> Decimal:
    """USD for summed tokens at base (lowest-tier) rates: per-call tier cliffs cannot be told from sums.
    Cache tokens with no rate of their own are charged as plain input, as the ledger's pricer does."""
    input_rate = base_rate(rates, "input_mtok") or Decimal(0)
    read_rate = base_rate(rates, "cache_read_mtok")
    write_rate = base_rate(rates, "cache_write_mtok")
    read = tokens.cache_read_tokens if read_rate is not None else 0
    write = tokens.cache_write_tokens if write_rate is not None else 0
    cost = (tokens.input_tokens - read - write) * input_rate
    cost += read * (read_rate or 0) + write * (write_rate or 0)
    cost += tokens.output_tokens * (base_rate(rates, "output_mtok") or Decimal(0))
    return cost / MTOK


@dataclass
class Caching:
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    saved_usd: Decimal = Decimal(0)  # uncached cost minus cached cost, at base rates
    by_model: list[tuple[str, int, int, Decimal | None]] = field(default_factory=list)  # model, input, read, saved
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def share(self) -> Decimal | None:
        return Decimal(self.cache_read_tokens) / self.input_tokens if self.input_tokens else None

    @property
    def saved(self) -> Decimal | None:
        """None when every model that used the cache is unpriced: the saving is unknown, not $0."""
        priced = any(saved is not None for *_, saved in self.by_model)
        return None if self.unpriced_models and not priced else self.saved_usd


def caching(rows: Iterable[ModelTokens], rates_of: RatesOf) -> Caching:
    """Share of input served from cache, and what it saved against paying full input price for every token
    (cache writes cost more than plain input, so they count against the saving)."""
    result = Caching()
    for row in sorted(rows, key=lambda r: (-r.cache_read_tokens, r.model)):
        result.input_tokens += row.input_tokens
        result.cache_read_tokens += row.cache_read_tokens
        result.cache_write_tokens += row.cache_write_tokens
        rates = rates_of(row.model, row.provider)
        saved = None
        if rates is None:
            if row.cache_read_tokens or row.cache_write_tokens:
                result.unpriced_models.append(row.model)
        else:
            uncached = ModelTokens(row.model, row.provider, row.events, 0, row.input_tokens, row.output_tokens,
                                   0, 0, 0)
            saved = estimate_cost(rates, uncached) - estimate_cost(rates, row)
            result.saved_usd += saved
        if row.cache_read_tokens or row.cache_write_tokens:
            result.by_model.append((row.model, row.input_tokens, row.cache_read_tokens, saved))
    return result


@dataclass(frozen=True)
class Route:
    model: str
    provider: str
    alternative: str
    events: int
    tokens: int
    actual_usd: Decimal  # what was recorded (priced events only)
    alternative_usd: Decimal  # the same tokens at the alternative's base rates: an estimate

    @property
    def difference_usd(self) -> Decimal:
        return self.actual_usd - self.alternative_usd


@dataclass
class Routing:
    routes: list[Route] = field(default_factory=list)
    unpriced_events: int = 0  # events on premium models that carry no price

    @property
    def actual_usd(self) -> Decimal:
        return sum((r.actual_usd for r in self.routes), Decimal(0))

    @property
    def alternative_usd(self) -> Decimal:
        return sum((r.alternative_usd for r in self.routes), Decimal(0))


def routing(rows: Iterable[ModelTokens], rates_of: RatesOf, economy: dict[str, str]) -> Routing:
    """Premium models: those whose provider's economy model is cheaper (base input + output rate)."""
    merged: dict[tuple[str, str, str], list] = {}
    result = Routing()
    for row in rows:
        rates = rates_of(row.model, row.provider)
        if rates is None or rates.provider is None:
            continue
        target = economy.get(rates.provider.lower())
        target_rates = rates_of(target, rates.provider) if target else None
        if target_rates is None or target_rates.model == rates.model:
            continue
        if _blended(target_rates) >= _blended(rates):
            continue
        key = (rates.model, rates.provider, target_rates.model)
        entry = merged.setdefault(key, [0, 0, Decimal(0), Decimal(0)])
        entry[0] += row.events
        entry[1] += row.input_tokens + row.output_tokens
        entry[2] += Decimal(row.nano_usd) / Decimal(10**9)
        entry[3] += estimate_cost(target_rates, row)
        result.unpriced_events += row.unpriced_events
    result.routes = sorted((Route(model, provider, alt, *values) for (model, provider, alt), values in
                            merged.items()), key=lambda r: (-r.actual_usd, r.model))
    return result


def _blended(rates: ModelRates) -> Decimal:
    return (base_rate(rates, "input_mtok") or Decimal(0)) + (base_rate(rates, "output_mtok") or Decimal(0))
