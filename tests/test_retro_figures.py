"""Retro figures as pure functions: no database, numbers worked out by hand."""

from __future__ import annotations

from decimal import Decimal

from bot.ledger.pricing import ModelRates, Rate
from bot.reports.retro import figures as fig
from bot.reports.retro.savings import ModelTokens, caching, estimate_cost, routing

WARN = Decimal("0.8")


def story(key, tokens=0, nano=0, budget_tokens=None, budget_nano=None, points=None, resolved=True,
          events=1, unpriced=0, project="P", check=None):
    return fig.StoryFacts(key, project, None, points, resolved, budget_tokens, budget_nano,
                          fig.Totals(events, unpriced, tokens, nano), check=check or fig.PrCheck())


def test_failed_goal_is_300_percent_exactly_on_either_budget():
    lines = {line.facts.key: line for line in fig.score([
        story("P-1", tokens=300, budget_tokens=100),
        story("P-2", tokens=299, budget_tokens=100),
        story("P-3", tokens=10, nano=3_000, budget_tokens=100, budget_nano=1_000),
    ], WARN)}

    assert lines["P-1"].failed_goal and lines["P-1"].ratio == 3
    assert not lines["P-2"].failed_goal
    assert lines["P-3"].failed_goal and lines["P-3"].ratio == 3  # the worse of 0.1 (tokens) and 3 (USD)


def test_approved_override_is_overridden_not_a_pass():
    approved = fig.PrCheck("success", "alice", "2026-03-04T10:00:00Z")
    lines = fig.score([story("P-1", tokens=150, budget_tokens=100, check=approved),
                       story("P-2", tokens=50, budget_tokens=100)], WARN)

    card = fig.scorecard(lines)

    assert lines[0].verdict.status == "overridden"
    assert (card.budgeted, card.passed, card.overridden, card.pass_rate) == (2, 1, 1, Decimal("0.5"))


def test_quartiles_interpolate_between_ranks():
    assert fig.quartiles([Decimal(v) for v in (1, 2, 3, 4)]) == (Decimal("1.75"), Decimal("2.5"), Decimal("3.25"))
    assert fig.quartiles([Decimal(7)]) == (Decimal(7), Decimal(7), Decimal(7))


def test_round_up_to_two_significant_figures():
    assert [fig.round_up(Decimal(v), 2) for v in (123_456, 120_000, 999, 1)] == [130_000, 120_000, 1_000, 1]


def test_suggested_budgets_take_the_75th_percentile_of_similar_stories():
    stories = [story(f"P-{n}", tokens=t, nano=t * 10_000, points=3) for n, t in enumerate(
        (100_000, 120_000, 150_000, 210_000), start=1)]
    stories += [story("P-9", tokens=5_000, points=1), story("P-10", tokens=999, points=None, resolved=False)]
    stories += [story("P-11", tokens=40_000, nano=1, points=5, unpriced=1) for _ in range(3)]

    result = fig.suggest_budgets(stories)

    three, five = result.groups
    # 3 points: sorted 100k 120k 150k 210k; p75 at rank 2.25 = 150k + 0.25 * 60k = 165k -> 170k; median 135k.
    assert (three.group, three.stories) == ("3 points", 4)
    assert (three.median_tokens, three.suggested_tokens) == (135_000, 170_000)
    assert (three.median_nano_usd, three.suggested_nano_usd) == (1_350_000_000, 1_700_000_000)  # $1.35 -> $1.70
    # 5 points: three stories with unpriced events: tokens suggested, dollars unknown.
    assert (five.group, five.suggested_tokens, five.suggested_nano_usd) == ("5 points", 40_000, None)
    assert result.too_few == ["1 point (1)"]  # P-10 is unresolved: not a sample


def test_unit_economics_never_divides_into_zero_or_unpriced():
    none_resolved = fig.unit_economics(fig.score([story("P-1", resolved=False, tokens=5, nano=5)], WARN),
                                       fig.Totals(1, 0, 5, 5))
    all_unpriced = fig.unit_economics(fig.score([story("P-1", tokens=5, points=2, unpriced=1)], WARN),
                                      fig.Totals(1, 1, 5, 0))

    assert (none_resolved.per_resolved_nano, none_resolved.fully_loaded_nano) == (None, None)
    assert (all_unpriced.per_resolved_nano, all_unpriced.per_point_nano) == (None, None)


def test_context_growth_compares_last_and_first_active_day():
    assert fig.context_growth([("d1", 2, 2_000), ("d2", 0, 0), ("d3", 4, 12_000)]) == Decimal(3)
    assert fig.context_growth([("d1", 2, 2_000)]) is None


def test_breakdown_merges_names_and_orders_by_spend():
    shares = fig.breakdown([("a", fig.Totals(1, 0, 10, 5)), (None, fig.Totals(1, 1, 3, 0)),
                            ("a", fig.Totals(1, 0, 10, 5)), ("b", fig.Totals(1, 0, 1, 50))])

    assert [(s.name, s.totals.tokens, s.totals.nano_usd) for s in shares] == [("b", 1, 50), ("a", 20, 10),
                                                                              ("(none)", 3, 0)]


RATES = {
    "opus": ModelRates("opus", "anthropic", "price-file", {"input_mtok": Rate(Decimal(15)), "output_mtok": Rate(
        Decimal(75)), "cache_read_mtok": Rate(Decimal("1.5")), "cache_write_mtok": Rate(Decimal("18.75"))}),
    "haiku": ModelRates("haiku", "anthropic", "price-file", {"input_mtok": Rate(Decimal(1)),
                                                             "output_mtok": Rate(Decimal(5))}),
    "tiered": ModelRates("tiered", "anthropic", "price-file", {
        "input_mtok": Rate(Decimal(3), ((200_000, Decimal(6)),)), "output_mtok": Rate(Decimal(15))}),
}


def rates_of(model, provider):
    return RATES.get(model)


def tokens(model, inp=0, out=0, read=0, write=0, nano=0, events=1, unpriced=0):
    return ModelTokens(model, None, events, unpriced, inp, out, read, write, nano)


def test_estimates_use_base_rates_even_past_a_tier_threshold():
    # 1M input tokens summed over many calls: the tier cliff applies per call, so sums are priced at base.
    assert estimate_cost(RATES["tiered"], tokens("tiered", inp=1_000_000, out=100_000)) == Decimal("4.5")


def test_caching_counts_writes_against_the_saving():
    result = caching([tokens("opus", inp=1_000_000, read=600_000, write=100_000)], rates_of)

    # Reads save 600k x (15 - 1.5) = $8.10; writes cost 100k x (18.75 - 15) = $0.375 more.
    assert result.saved == Decimal("7.725") and result.share == Decimal("0.6")


def test_caching_saving_is_unknown_when_only_unpriced_models_cached():
    result = caching([tokens("local-llm", inp=1_000, read=500)], rates_of)

    assert result.saved is None and result.unpriced_models == ["local-llm"] and result.share == Decimal("0.5")


def test_routing_compares_premium_models_with_the_providers_economy_model():
    result = routing([tokens("opus", inp=1_000_000, out=100_000, nano=22_500_000_000, events=10),
                      tokens("haiku", inp=5, out=5, nano=1), tokens("local-llm", inp=9, out=9, unpriced=1)],
                     rates_of, {"anthropic": "haiku"})

    (route,) = result.routes  # haiku itself is not premium; local-llm has no price and no provider
    assert (route.model, route.alternative, route.tokens) == ("opus", "haiku", 1_100_000)
    assert (route.actual_usd, route.alternative_usd, route.difference_usd) == (Decimal("22.5"), Decimal("1.5"),
                                                                               Decimal("21.0"))


def test_routing_skips_a_provider_whose_economy_model_is_not_cheaper():
    assert routing([tokens("haiku", inp=1_000, out=1_000)], rates_of, {"anthropic": "opus"}).routes == []
