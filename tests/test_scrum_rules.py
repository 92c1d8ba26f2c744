"""Pure parts of the scrum: anomaly rules and the burn-down projection, tested on plain numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.ledger.budgets import Status
from bot.reports.scrum import anomalies as rules
from bot.reports.scrum.burndown import SprintWindow, StoryBurn, describe, project, when, worst_projection
from bot.reports.scrum.digest_data import report_window

USD = 10**9
DAY = date(2026, 3, 9)


def spike(daily, **overrides):
    options = {"factor": Decimal(2), "rolling_pct": Decimal(150), "rolling_days": 28, "min_nano": USD}
    return rules.spend_spike("agent:codex", daily, DAY, **(options | overrides))


def steady(per_day: int, days: int = 28) -> dict:
    return {DAY - timedelta(days=n): per_day for n in range(1, days + 1)}


def test_spend_spike_fires_over_twice_the_week_and_over_150pct_of_the_rolling_average():
    found = spike(steady(3 * USD) | {DAY: 7 * USD})

    assert found.rule == "spend_spike" and found.subject == "agent:codex" and found.day == DAY
    assert found.message == ("Agent codex spent $7.00 on Mon 9 Mar: 2.3x the trailing 7-day average of $3.00")


def test_spend_spike_quiet_on_a_normal_day_a_tiny_day_and_a_first_day():
    assert spike(steady(3 * USD) | {DAY: 5 * USD}) is None  # 1.7x: not a spike
    assert spike(steady(USD // 10) | {DAY: USD // 2}) is None  # 5x, but 50 cents
    assert spike({DAY: 50 * USD}) is None  # no history: budget_share judges new spenders


def test_spend_spike_needs_both_tests_unless_the_rolling_one_is_off():
    # A quiet last week after a busy month: 2x the week is not above 150% of the month.
    history = steady(10 * USD) | {DAY - timedelta(days=n): 2 * USD for n in range(1, 8)}
    assert spike(history | {DAY: 5 * USD}) is None
    assert spike(history | {DAY: 5 * USD}, rolling_pct=Decimal(0)) is not None


def run(**fields) -> rules.RunFacts:
    base = {"run_id": "r1", "story_key": "PROJ-1", "agent": "claude-code", "model": "claude-sonnet-4-5",
            "nano_usd": USD // 2, "events": 10, "tool_calls": 5, "errors": 0, "max_error_streak": 0,
            "last_event_at": datetime(2026, 3, 9, 10, tzinfo=UTC)}
    return rules.RunFacts(**(base | fields))


def test_run_cost_fires_above_the_limit_only():
    assert rules.run_cost(run(nano_usd=USD), max_nano=USD) is None
    found = rules.run_cost(run(nano_usd=USD + 1), max_nano=USD)
    assert found.subject == "run:r1" and found.story_key == "PROJ-1" and found.day == DAY
    assert "has cost $1.00 over 10 calls" in found.message


def test_runaway_run_on_an_error_streak_or_too_many_tool_calls():
    assert rules.runaway_run(run(max_error_streak=2, errors=5), error_streak=3, max_tool_calls=200) is None
    assert rules.runaway_run(run(tool_calls=200), error_streak=3, max_tool_calls=200) is None
    streak = rules.runaway_run(run(max_error_streak=3), error_streak=3, max_tool_calls=200)
    tools = rules.runaway_run(run(tool_calls=201), error_streak=3, max_tool_calls=200)
    assert "3 consecutive error outcomes" in streak.message
    assert "201 tool calls (limit 200)" in tools.message


def test_budget_share_over_the_percentage_of_the_daily_budget():
    assert rules.budget_share("person:ana", 10 * USD, 100 * USD, DAY, pct=Decimal(10)) is None
    assert rules.budget_share("person:ana", 50 * USD, None, DAY, pct=Decimal(10)) is None
    found = rules.budget_share("person:Ana Lopez", 12 * USD, 100 * USD, DAY, pct=Decimal(10))
    assert found.message == "Ana Lopez spent $12.00 on Mon 9 Mar: 12% of the daily budget of $100.00 (limit 10%)"


def test_cost_jump_after_a_model_change_only():
    before = {"claude-haiku-4-5": (USD // 100 * 20, 20)}  # 1 cent a call
    pricier = {"claude-opus-4-1": (USD // 10 * 10, 10)}  # 10 cents a call
    found = rules.cost_jump("claude-code", pricier, before, DAY, factor=Decimal(2), min_events=5)
    assert found.subject == "agent:claude-code"
    assert "from $0.0100 to $0.1000 (10.0x) after switching to claude-opus-4-1" in found.message
    # Same model, dearer calls (longer prompts): not a model change.
    assert rules.cost_jump("claude-code", {"claude-haiku-4-5": (USD, 10)}, before, DAY, factor=Decimal(2),
                           min_events=5) is None
    # New model, similar price: not a jump. Too few calls: not judged.
    assert rules.cost_jump("claude-code", {"gpt-4o-mini": (USD // 100 * 10, 10)}, before, DAY,
                           factor=Decimal(2), min_events=5) is None
    assert rules.cost_jump("claude-code", {"claude-opus-4-1": (USD, 2)}, before, DAY, factor=Decimal(2),
                           min_events=5) is None


# --- burn-down projection: a 14-day sprint, $10 budget, $1 a day so far ---------------------------------
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
SPRINT = SprintWindow("Sprint 42", START, START + timedelta(days=14))
BERLIN = ZoneInfo("Europe/Berlin")


def test_runs_out_thursday_and_ends_at_140_percent():
    now = START + timedelta(days=7)
    projection = project("usd", 10 * USD, 7 * USD, 7 * USD, SPRINT, now)

    assert projection.runs_out_at == START + timedelta(days=10)
    assert projection.pct_at_end == 140
    assert describe(projection, SPRINT, now, BERLIN) == (
        "At the current burn rate of $1.00/day the budget runs out Thursday; "
        "projected 140% of budget at sprint end (Mon 16 Mar).")


def test_on_the_day_the_sprint_starts_it_is_too_early_to_project():
    projection = project("usd", 10 * USD, 2 * USD, 2 * USD, SPRINT, START + timedelta(hours=5))

    assert projection.rate_per_day is None
    assert describe(projection, SPRINT, START, BERLIN).startswith("Too early to project")


def test_already_over_and_within_budget_and_no_budget():
    now = START + timedelta(days=7)
    over = project("usd", 5 * USD, 7 * USD, 7 * USD, SPRINT, now)
    fine = project("tokens", 1_000_000, 70_000, 70_000, SPRINT, now)

    assert describe(over, SPRINT, now, BERLIN).startswith("Already over budget (140%)")
    assert describe(fine, SPRINT, now, BERLIN) == (
        "At the current burn rate of 10k tokens/day the budget lasts the sprint; "
        "projected 14% of budget at sprint end (Mon 16 Mar).")
    assert describe(None, SPRINT, now, BERLIN).startswith("No budget set")
    assert describe(None, SprintWindow("Kanban", None, None), now, BERLIN) == (
        "Kanban has no start and end dates, so there is no projection.")


def test_the_worst_of_token_and_dollar_budgets_is_projected():
    story = StoryBurn("PROJ-1", None, None, Status.OK, budget_tokens=100_000, budget_nano=10 * USD,
                      spent_tokens=70_000, spent_nano=USD,
                      daily={START.date() + timedelta(days=n): (10_000, USD // 7) for n in range(7)})

    assert worst_projection(story, SPRINT, START + timedelta(days=7)).unit == "tokens"


def test_when_names_the_day_in_the_team_zone():
    now = datetime(2026, 3, 9, 8, tzinfo=UTC)
    assert when(now + timedelta(hours=3), now, BERLIN) == "today"
    assert when(now + timedelta(days=1), now, BERLIN) == "tomorrow"
    assert when(datetime(2026, 3, 11, 23, 30, tzinfo=UTC), now, BERLIN) == "Thursday"  # 00:30 in Berlin
    assert when(now + timedelta(days=9), now, BERLIN) == "Wed 18 Mar"


def test_report_window_covers_the_weekend_on_monday():
    assert report_window(date(2026, 3, 9), "mon-fri") == (date(2026, 3, 6), date(2026, 3, 8))
    assert report_window(date(2026, 3, 10), "mon-fri") == (date(2026, 3, 9), date(2026, 3, 9))
    assert report_window(date(2026, 3, 9), "mon-sun") == (date(2026, 3, 8), date(2026, 3, 8))
    assert report_window(date(2026, 3, 14), "mon-fri") == (date(2026, 3, 13), date(2026, 3, 13))  # a Saturday


def test_slack_sections_stay_within_slacks_limits():
    from bot.reports import blocks

    section = blocks.lines_section("*Over budget (400)*", [f"• <https://b.test/stories/PROJ-{n}|PROJ-{n}> "
                                                           f"{'long summary ' * 5}" for n in range(400)])
    text = section["text"]["text"]

    assert len(text) <= 3000
    assert text.endswith(" more") and "…and 3" in text.splitlines()[-1]
    assert blocks.header("x" * 400)["text"]["text"] == "x" * 150
    assert blocks.escape("a <b> & c") == "a &lt;b&gt; &amp; c"
