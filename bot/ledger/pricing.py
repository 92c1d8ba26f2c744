"""Prices: per-model rates from genai-prices (or a local price file), looked up once and applied in Decimal."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from bot.ledger.budgets import usd_to_nano

MTOK = Decimal(1_000_000)
_RATE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok")


@dataclass(frozen=True)
class TokenCounts:
    """Normalized counts. `input` includes cached reads and writes; `output` includes reasoning."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0  # all cache writes, of which `cache_write_1h` were written with a 1-hour TTL
    cache_write_1h: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True)
class Rate:
    """USD per million tokens, or tiers [(threshold_on_input_tokens, rate), ...] above a base rate."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()

    def at(self, input_tokens: int) -> Decimal:
        # genai-prices' cliff model: past a threshold, every token pays the tier rate.
        for start, price in reversed(self.tiers):
            if input_tokens > start:
                return price
        return self.base


@dataclass(frozen=True)
class ModelRates:
    model: str
    provider: str | None
    source: str  # "genai-prices" or "price-file"
    rates: dict[str, Rate]

    def cost(self, counts: TokenCounts) -> Decimal:
        """Cost in USD. Cache tokens with no rate of their own are charged as plain input."""
        n = counts.input
        read = counts.cache_read if "cache_read_mtok" in self.rates else 0
        write_1h = counts.cache_write_1h if "cache_write_1h_mtok" in self.rates else 0
        write = counts.cache_write - write_1h if "cache_write_mtok" in self.rates else 0
        uncached = n - read - write - write_1h
        parts = (
            ("input_mtok", uncached),
            ("cache_read_mtok", read),
            ("cache_write_mtok", write),
            ("cache_write_1h_mtok", write_1h),
            ("output_mtok", counts.output),
        )
        total = Decimal(0)
        for key, count in parts:
            rate = self.rates.get(key)
            if rate is not None and count:
                total += rate.at(n) * count
        return total / MTOK

    def describe(self) -> dict[str, str]:
        out = {}
        for key, rate in self.rates.items():
            text = f"${rate.base}/MTok"
            if rate.tiers:
                text += "".join(f", ${price}/MTok above {start:,} input tokens" for start, price in rate.tiers)
            out[key.removesuffix("_mtok")] = text
        return out


@dataclass(frozen=True)
class Priced:
    nano_usd: int
    priced: bool
    source: str  # genai-prices | price-file | client | unpriced
    family: str | None = None  # the canonical model id reports group by (see Pricer.family)


class Pricer:
    """Finds a model's rates once (per model, provider and day) and prices token counts with them."""

    def __init__(self, prices_file: Path | None = None) -> None:
        self.overrides = load_price_file(prices_file) if prices_file else {}
        self._lookup = lru_cache(maxsize=4096)(self._find_rates)

    def rates(self, model: str, provider: str | None = None, day: date | None = None) -> ModelRates | None:
        return self._lookup(model.strip().lower(), (provider or "").strip().lower() or None, day or date.today())

    def price(self, counts: TokenCounts, model: str, provider: str | None, at: datetime) -> Priced:
        rates = self.rates(model, provider, at.date())
        if rates is None:
            return Priced(0, False, "unpriced", model.strip().lower())
        return Priced(usd_to_nano(rates.cost(counts)), True, rates.source, rates.model.lower())

    def family(self, model: str, provider: str | None = None, day: date | None = None) -> str:
        """The model's canonical id (genai-prices' own: `GPT-4o`, `gpt-4o-2024-11-20` -> `gpt-4o`), what
        reports group by; an unknown model is its own family, lower-cased."""
        rates = self.rates(model, provider, day)
        return rates.model.lower() if rates is not None else model.strip().lower()

    def _find_rates(self, model: str, provider: str | None, day: date) -> ModelRates | None:
        # genai-prices (and its price snapshot) loads on the first price looked up, not at import: every command
        # imports the ledger, and `budgetbot --help` or `status` never prices anything.
        from genai_prices.types import TieredPrices

        if model in self.overrides:
            return self.overrides[model]
        found = find_model(model, provider)
        if found is None:
            return None
        found_provider, info = found
        model_price = info.get_prices(datetime.combine(day, datetime.min.time()).astimezone())
        rates = {}
        for key in _RATE_KEYS:
            value = getattr(model_price, key, None)
            if isinstance(value, TieredPrices):
                rates[key] = Rate(value.base, tuple((t.start, t.price) for t in value.tiers))
            elif value is not None:
                rates[key] = Rate(value)
        if "input_mtok" not in rates and "output_mtok" not in rates:
            return None
        return ModelRates(info.id, found_provider.id, "genai-prices", rates)


def find_model(model: str, provider: str | None):
    """(provider, model info) by genai-prices' own matching, trying what real proxies send, in order:
    the `provider` as given (`bedrock` and `google-vertex` are provider ids it knows); a LiteLLM-style
    prefix (`openai/gpt-4o`, `openrouter/anthropic/claude-sonnet-4.5`: genai-prices splits it for the
    provider id `litellm`); the model alone (an unknown provider such as `my-proxy` must not hide a known
    model; `claude-sonnet-4-5@20250929` matches Anthropic's); then any provider whose model ids match
    (Bedrock's `us.anthropic.claude-…-v1:0` without a provider). None when nobody prices it."""
    from genai_prices.data_snapshot import get_snapshot  # see Pricer._find_rates: loaded when first used

    snapshot = get_snapshot()
    attempts: list[str | None] = [provider] if provider else []
    if "/" in model:
        attempts.append("litellm")
    attempts.append(None)
    for provider_id in attempts:
        try:
            return snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            continue
    for candidate in snapshot.providers:
        info = candidate.find_model(model)
        if info is not None:
            return candidate, info
    return None


def load_price_file(path: Path) -> dict[str, ModelRates]:
    """Read a TOML or JSON price file: {"models": {"name": {"input_mtok": 0.5, "output_mtok": 1.5, ...}}}."""
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError(f"{path}: expected a [models] table with at least one model")
    result = {}
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: models.{name} must be a table of rates")
        unknown = set(entry) - set(_RATE_KEYS) - {"provider"}
        if unknown:
            raise ValueError(f"{path}: models.{name}: unknown keys {sorted(unknown)}; use {list(_RATE_KEYS)}")
        rates = {}
        for key in _RATE_KEYS:
            if key in entry:
                try:
                    rate = Decimal(str(entry[key]))
                except ArithmeticError:  # decimal.InvalidOperation: "cheap" is no rate
                    raise ValueError(f"{path}: models.{name}.{key} = {entry[key]!r} is not a number of dollars "
                                     "per million tokens") from None
                if not rate.is_finite() or rate < 0:
                    raise ValueError(f"{path}: models.{name}.{key} must not be negative")
                rates[key] = Rate(rate)
        if "input_mtok" not in rates or "output_mtok" not in rates:
            raise ValueError(f"{path}: models.{name} needs input_mtok and output_mtok")
        result[name.lower()] = ModelRates(name, entry.get("provider"), "price-file", rates)
    return result
