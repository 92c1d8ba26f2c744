"""Budget parsing and the one status function (pure), and the budget API and CLI."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.ledger.budgets import BudgetError, Status, judge, parse_budget, parse_tokens, parse_usd


@pytest.mark.parametrize("raw, tokens", [(200000, 200000), ("200k", 200000), ("1.5M", 1500000),
                                         ("200,000", 200000), ("2B", 2_000_000_000), (" 50K tokens", 50000)])
def test_token_amounts_people_type(raw, tokens):
    assert parse_tokens(raw) == tokens


@pytest.mark.parametrize("raw", ["abc", "-5", "0", "1.5", "", True, None, "1.0001k", "10^6"])
def test_garbage_token_amounts_are_errors(raw):
    with pytest.raises(BudgetError):
        parse_tokens(raw)


@pytest.mark.parametrize("raw, usd", [("5", Decimal("5")), ("$5.00", Decimal("5.00")), (5, Decimal("5")),
                                      ("5 USD", Decimal("5")), ("$1,250", Decimal("1250"))])
def test_dollar_amounts_people_type(raw, usd):
    assert parse_usd(raw) == usd


@pytest.mark.parametrize("raw", ["five", "-$5", "$0", "$", "€5"])
def test_garbage_dollar_amounts_are_errors(raw):
    with pytest.raises(BudgetError):
        parse_usd(raw)


def test_free_text_budget_as_in_a_jira_text_field():
    assert parse_budget("200k / $5").tokens == 200000
    assert parse_budget("200k / $5").usd == Decimal("5")
    assert parse_budget("$5").tokens is None
    assert parse_budget("150000").usd is None
    with pytest.raises(BudgetError):
        parse_budget("200k / 300k")


def verdict(spent_tokens=0, budget_tokens=None, spent_nano=0, budget_nano=None, **kw):
    return judge(budget_tokens=budget_tokens, budget_nano_usd=budget_nano, spent_tokens=spent_tokens,
                 spent_nano_usd=spent_nano, **kw)


def test_status_thresholds():
    assert verdict(100).status == Status.NO_BUDGET
    assert verdict(799, 1000).status == Status.OK
    assert verdict(800, 1000).status == Status.WARNING
    assert verdict(1000, 1000).status == Status.WARNING
    assert verdict(1001, 1000).status == Status.OVER
    assert verdict(1001, 1000, overridden=True).status == Status.OVERRIDDEN


def test_over_either_budget_is_over():
    assert verdict(10, 1000, spent_nano=6, budget_nano=5).status == Status.OVER
    assert verdict(10, 1000, spent_nano=1, budget_nano=5).status == Status.OK


def test_over_by_a_hair_is_over_even_when_the_percentage_rounds_to_100():
    result = verdict(1_000_001, 1_000_000)
    # issue 12: a percentage never rounds an over-budget story down to 100 (nor a story within it up to 100).
    assert result.status == Status.OVER and result.tokens_pct == Decimal("100.1")
    assert verdict(999_999, 1_000_000).tokens_pct == Decimal("99.9")


def test_unpriced_events_leave_a_dollar_budget_unjudged_but_tokens_still_count():
    assert verdict(10, 1000, spent_nano=0, budget_nano=5, unpriced_events=2).status == Status.UNPRICED
    assert verdict(10, 1000, spent_nano=0, budget_nano=5, unpriced_events=2).unpriced_events == 2
    assert verdict(1001, 1000, spent_nano=0, budget_nano=5, unpriced_events=2).status == Status.OVER
    assert verdict(10, 1000, spent_nano=6, budget_nano=5, unpriced_events=2).status == Status.OVER
    # No dollar budget: the token budget judges alone, as before.
    assert verdict(10, 1000, unpriced_events=2).status == Status.OK


def test_warn_threshold_is_configurable():
    assert verdict(500, 1000, warn_threshold=Decimal("0.5")).status == Status.WARNING


def test_put_budget_accepts_the_forms_people_type(client, auth):
    response = client.put("/api/v1/stories/proj-7/budget", json={"tokens": "1.5M", "usd": "$5.00"}, headers=auth)

    assert response.status_code == 200
    assert response.json["key"] == "PROJ-7"
    assert response.json["budget"] == {"tokens": 1500000, "usd": "5"}
    assert response.json["status"] == "ok"


def test_put_budget_keeps_the_part_not_given_and_clears_a_null(client, auth):
    client.put("/api/v1/stories/PROJ-7/budget", json={"tokens": 1000, "usd": 5}, headers=auth)

    client.put("/api/v1/stories/PROJ-7/budget", json={"tokens": 2000}, headers=auth)
    assert client.get("/api/v1/stories/PROJ-7", headers=auth).json["budget"] == {"tokens": 2000, "usd": "5"}

    client.put("/api/v1/stories/PROJ-7/budget", json={"usd": None}, headers=auth)
    assert client.get("/api/v1/stories/PROJ-7", headers=auth).json["budget"] == {"tokens": 2000, "usd": None}


@pytest.mark.parametrize("body, path", [({"tokens": "lots"}, "tokens"), ({"tokens": -5}, "tokens"),
                                        ({"usd": "five"}, "usd"), ({"tokns": 5}, "tokns"), ({}, "body")])
def test_put_budget_rejects_garbage_and_keeps_the_old_budget(client, auth, body, path):
    client.put("/api/v1/stories/PROJ-7/budget", json={"tokens": 1000}, headers=auth)

    response = client.put("/api/v1/stories/PROJ-7/budget", json=body, headers=auth)

    assert response.status_code == 400
    assert path in [e["path"] for e in response.json["errors"]]
    assert client.get("/api/v1/stories/PROJ-7", headers=auth).json["budget"]["tokens"] == 1000


def test_put_budget_on_something_that_is_not_a_jira_key(client, auth):
    response = client.put("/api/v1/stories/hello world/budget", json={"tokens": 5}, headers=auth)

    assert response.status_code == 400 and response.json["error"] == "invalid_story_key"


def test_story_status_moves_with_spend(client, auth):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 2000}, headers=auth)

    def spend(event_id, tokens):
        body = {"event_id": event_id, "story": "PROJ-1", "model": "gpt-4o", "input_tokens": tokens,
                "output_tokens": 0}
        return client.post("/api/v1/usage", json=body, headers=auth).json["stories"]["PROJ-1"]

    assert spend("a", 1000)["status"] == "ok"
    assert spend("b", 700)["status"] == "warning"
    over = spend("c", 301)
    assert over["status"] == "over" and over["percent"]["tokens"] == "100.1"


def test_story_detail_and_list_filtered_by_status(client, auth):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 100}, headers=auth)
    client.put("/api/v1/stories/PROJ-2/budget", json={"tokens": 100000}, headers=auth)
    events = [{"event_id": f"e{i}", "story": "PROJ-1", "model": model, "agent": agent, "input_tokens": 100,
               "output_tokens": 10} for i, (model, agent) in enumerate(
        [("gpt-4o", "coder"), ("gpt-4o", "coder"), ("gpt-4o-mini", "reviewer")])]
    client.post("/api/v1/usage", json={"events": events}, headers=auth)

    detail = client.get("/api/v1/stories/proj-1", headers=auth).json
    over = client.get("/api/v1/stories?status=over", headers=auth).json
    bad = client.get("/api/v1/stories?status=burning", headers=auth)

    assert [m["name"] for m in detail["by_model"]] == ["gpt-4o", "gpt-4o-mini"]
    assert detail["by_agent"][0] == {"name": "coder", "tokens": 220, "usd": "0.0007", "events": 2}
    assert detail["first_event_at"] and detail["last_event_at"]
    assert [s["key"] for s in over["stories"]] == ["PROJ-1"]
    assert bad.status_code == 400
    assert client.get("/api/v1/stories/PROJ-99", headers=auth).status_code == 404
