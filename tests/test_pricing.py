"""Pricing: our cached-rate Decimal costs equal genai-prices' own calc_price; price file overrides; unknown models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from bot.ledger.pricing import Pricer, TokenCounts, load_price_file

MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "o4-mini", "gpt-5", "claude-sonnet-4-5", "claude-opus-4-1",
          "claude-3-5-haiku-latest", "claude-haiku-4-5", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"]
COUNTS = [TokenCounts(input=1000, output=500, cache_read=200, cache_write=100),
          # past the 200k long-context tier of Claude Sonnet / Gemini Pro, with 1-hour cache writes
          TokenCounts(input=300_000, output=2_000, cache_read=20_000, cache_write=1_000, cache_write_1h=400)]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("counts", COUNTS, ids=["small", "long-context"])
def test_cost_matches_genai_prices(model, counts):
    usage = Usage(input_tokens=counts.input, output_tokens=counts.output, cache_read_tokens=counts.cache_read,
                  cache_write_tokens=counts.cache_write, cache_write_1h_tokens=counts.cache_write_1h)
    expected = calc_price(usage, model).total_price

    assert Pricer().rates(model).cost(counts) == expected


def test_rates_are_looked_up_once_per_model_and_day():
    pricer = Pricer()
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    for _ in range(50):
        pricer.price(TokenCounts(input=10, output=10), "gpt-4o", "openai", at)

    info = pricer._lookup.cache_info()
    assert (info.misses, info.hits) == (1, 49)


def test_unknown_model_is_not_priced():
    result = Pricer().price(TokenCounts(input=10), "no-such-model-xyz", None, datetime.now(UTC))

    assert (result.priced, result.nano_usd, result.source) == (False, 0, "unpriced")


def test_unknown_provider_name_still_finds_a_well_known_model():
    assert Pricer().rates("gpt-4o", "our-litellm-proxy") is not None


def test_price_file_adds_and_overrides_models(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text('[models."llama-3-70b-selfhosted"]\ninput_mtok = 0.5\noutput_mtok = 1.5\n\n'
                    '[models."gpt-4o"]\ninput_mtok = 2\noutput_mtok = 8\ncache_read_mtok = 1\n')
    pricer = Pricer(path)

    own = pricer.rates("llama-3-70b-selfhosted")
    negotiated = pricer.rates("GPT-4o")

    assert own.cost(TokenCounts(input=1_000_000, output=1_000_000)) == Decimal("2.0")
    assert negotiated.source == "price-file"
    assert negotiated.cost(TokenCounts(input=1_000_000, output=0, cache_read=500_000)) == Decimal("1.5")


@pytest.mark.parametrize("text, message", [
    ("[models.x]\ninput_mtok = 1\n", "needs input_mtok and output_mtok"),
    ("[models.x]\ninput_mtok = 1\noutput_mtok = 1\ninput_mtk = 3\n", "unknown keys"),
    ("[models.x]\ninput_mtok = -1\noutput_mtok = 1\n", "must not be negative"),
    ("title = 'no models'\n", "expected a [models] table"),
])
def test_bad_price_files_are_explained(tmp_path, text, message):
    path = tmp_path / "prices.toml"
    path.write_text(text)

    with pytest.raises(ValueError, match=re.escape(message)):
        load_price_file(path)
