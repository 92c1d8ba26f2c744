"""What the check says, as pure functions: conclusions, titles, figures, escaping and the 65,535-character cap."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.integrations.github.report import SUMMARY_LIMIT, Approval, StoryFigures, compose, money, short_tokens
from bot.ledger.budgets import judge

WARN = Decimal("0.8")


def story(key: str = "PROJ-1", tokens: int | None = None, nano: int | None = None, spent: int = 0,
          spent_nano: int = 0, overridden: bool = False, **extra) -> StoryFigures:
    verdict = judge(budget_tokens=tokens, budget_nano_usd=nano, spent_tokens=spent, spent_nano_usd=spent_nano,
                    warn_threshold=WARN, overridden=overridden)
    return StoryFigures(key=key, verdict=verdict, budget_tokens=tokens, budget_nano_usd=nano, spent_tokens=spent,
                        spent_nano_usd=spent_nano, page_url=f"https://bb.test/stories/{key}", **extra)


def check(*stories: StoryFigures, approval: Approval | None = None, limit: int = SUMMARY_LIMIT):
    return compose(list(stories), approval, override_label="budget-override", warn_threshold=WARN, limit=limit)


@pytest.mark.parametrize(("tokens", "text"), [(0, "0"), (999, "999"), (12_345, "12.3k"), (182_000, "182k"),
                                              (200_000, "200k"), (1_500_000, "1.5M"), (2_000_000_000, "2B")])
def test_short_tokens(tokens, text):
    assert short_tokens(tokens) == text


@pytest.mark.parametrize(("nano", "text"), [(0, "$0.00"), (4_100_000_000, "$4.10"), (4_200_000, "$0.0042"),
                                            (1_234_567_000_000_000, "$1,234,567.00")])
def test_money(nano, text):
    assert money(nano) == text


def test_the_title_of_the_issue():
    output = check(story("PROJ-123", 200_000, 5 * 10**9, 182_000, 4_100_000_000))
    assert output.title == "PROJ-123: 182k / 200k tokens (91%) · $4.10 / $5.00"
    assert output.conclusion == "success" and output.actions == []


def test_a_hair_over_budget_never_reads_100_percent():
    output = check(story(tokens=100_000, spent=100_040))
    assert output.conclusion == "failure" and output.title == "PROJ-1: 100k / 100k tokens (>100%)"


def test_exactly_at_budget_is_a_warning_not_a_failure():
    output = check(story(tokens=100_000, spent=100_000))
    assert output.conclusion == "success" and "⚠️ PROJ-1 has used 100% of its budget" in output.summary


def test_any_story_over_fails_and_the_title_names_it_first():
    output = check(story("PROJ-1", tokens=100, spent=10), story("PROJ-2", tokens=100, spent=150),
                   story("PROJ-3"))
    assert output.conclusion == "failure"
    assert output.title == "PROJ-2: 150 / 100 tokens (150%) · +2 more"
    assert "PROJ-3 has no budget and is not checked." in output.summary
    assert output.details_url == "https://bb.test/stories/PROJ-2"


def test_only_unbudgeted_stories_is_neutral():
    output = check(story("PROJ-1", spent=5000, spent_nano=10**8), story("PROJ-2"))
    assert output.conclusion == "neutral"
    assert output.title == "PROJ-1: no budget set · 5k tokens · $0.10 spent · +1 more"
    assert "Token Budget" in output.summary and "budgetbot budget set PROJ-1" in output.summary


def test_overridden_succeeds_and_says_who_and_when():
    approval = Approval("alice", datetime(2026, 3, 1, 14, 2, tzinfo=UTC), "label")
    output = check(story(tokens=100, spent=150, overridden=True), approval=approval)
    assert output.conclusion == "success"
    assert "**Overrun approved** by @alice on 2026-03-01 14:02 UTC (label `budget-override`)" in output.summary
    assert output.actions[0]["identifier"] == "revoke-override"


def test_action_fields_fit_githubs_limits():
    for output in (check(story(tokens=1, spent=2)),
                   check(story(tokens=1, spent=2, overridden=True),
                         approval=Approval("a", datetime.now(UTC), "label"))):
        (action,) = output.actions
        assert len(action["label"]) <= 20 and len(action["description"]) <= 40 and len(action["identifier"]) <= 20


def test_text_from_jira_and_agents_is_escaped():
    output = check(story(summary="<script>alert(1)</script> | [x](http://evil)", tokens=10, spent=1,
                         top_models=[{"name": "**bold**", "usd": "0.1", "tokens": 5, "events": 1}]))
    assert "<script>" not in output.summary and "&lt;script&gt;" in output.summary
    assert "\\[x\\](http://evil)" in output.summary and "\\| " in output.summary
    assert "\\*\\*bold\\*\\*" in output.summary


def test_a_huge_summary_is_cut_at_a_story_with_a_note():
    stories = [story(f"PROJ-{n}", tokens=1000, spent=n, summary="x" * 150) for n in range(1, 3001)]
    output = check(*stories)
    assert len(output.summary) <= SUMMARY_LIMIT
    assert output.summary.rstrip().endswith("characters._")
    assert "more stories not shown" in output.summary
    shown = output.summary.count("\n### ")
    assert f"… {3000 - shown} more stories not shown" in output.summary


def test_the_cap_holds_for_any_limit():
    stories = [story(f"PROJ-{n}", tokens=1000, spent=n) for n in range(1, 50)]
    for limit in (300, 1000, 5000):
        assert len(check(*stories, limit=limit).summary) <= limit


def test_no_story_is_neutral_with_how_to_link():
    output = check()
    assert (output.conclusion, output.title) == ("neutral", "No story linked")
    assert "feature/PROJ-123-retry" in output.summary
