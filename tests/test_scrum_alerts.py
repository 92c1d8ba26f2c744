"""Anomaly alerts on real ledgers: each rule fires on a ledger built to trip it and stays quiet on one that is not;
one alert per rule, subject and day; Slack gets the alert, the story's Jira note gets story-level ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from link_support import unsigned
from scrum_support import add_sprint, event, ingest_events, rows, set_story
from sqlalchemy import select

from bot.reports.scrum.alerts import scan
from bot.reports.scrum.tables import Alert

NOW = datetime(2026, 3, 9, 15, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def settings_overrides(db_url):
    # These tests were written for the old, noisy thresholds ($1 a run, 10% of the daily budget).
    return {"database_url": db_url, "public_url": "https://budgetbot.test", "anomaly_run_usd": 1,
            "anomaly_share_pct": 10}


def configure(app, **values):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update=values)


def alerts(db) -> list[tuple[str, str, date]]:
    with db.session_factory() as session:
        return [(a.rule, a.subject, a.day) for a in session.scalars(select(Alert).order_by(Alert.id))]


def run_scan(app, db, now=NOW):
    with db.transaction() as session:
        return scan(session, app.config["SETTINGS"], now)


def at(day_offset: int = 0, hour: int = 10) -> str:
    return (datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(days=day_offset, hours=hour)).isoformat()


# --- judged at ingest -------------------------------------------------------------------------------------

def test_a_run_over_a_dollar_alerts_once_with_a_slack_message_and_a_note_on_the_story(app, db):
    batch = [event(f"r1-{n}", at(hour=n), cost="0.40", story="PROJ-1", run_id="r1", agent="codex") for n in range(4)]
    ingest_events(app, db, batch[:2])
    assert alerts(db) == []  # $0.80

    ingest_events(app, db, batch[2:3])  # $1.20
    ingest_events(app, db, batch[3:])  # $1.60: same rule, run and day -> no second alert

    assert alerts(db) == [("run_cost", "run:r1", TODAY)]
    slack, = rows(db, "slack.message")
    assert slack.payload["update_key"].startswith("alerts:")
    assert slack.payload["blocks"][0]["text"]["text"] == ":rotating_light: budgetbot: 1 anomaly"
    assert unsigned(slack.payload["blocks"][1]["text"]["text"]) == (
        "*Expensive run* — Run r1 (codex on PROJ-1) has cost $1.20 over 3 calls, above the $1.00 limit per run"
        " · <https://budgetbot.test/stories/PROJ-1|PROJ-1>")
    note, = rows(db, "jira.comment")
    assert note.payload["key"] == "PROJ-1" and note.payload["marker"] == "anomaly"
    assert note.payload["doc"][1] == {"type": "bullets", "items": [
        "Mon 9 Mar · Expensive run: Run r1 (codex on PROJ-1) has cost $1.20 over 3 calls, above the $1.00 limit "
        "per run"]}


def test_a_run_under_a_dollar_is_quiet(app, db):
    ingest_events(app, db, [event(f"e{n}", at(hour=n), cost="0.30", run_id="r1") for n in range(3)])

    assert alerts(db) == [] and rows(db) == []


def test_three_consecutive_errors_across_batches_is_a_runaway(app, db):
    outcomes = ["ok", "error", "error", "error"]
    events = [event(f"e{n}", at(hour=n), run_id="loop", story="PROJ-2", outcome=o) for n, o in enumerate(outcomes)]
    ingest_events(app, db, events[:3])
    assert alerts(db) == []

    ingest_events(app, db, events[3:])

    assert alerts(db) == [("runaway_run", "run:loop", TODAY)]
    assert rows(db, "jira.comment")[0].payload["key"] == "PROJ-2"


def test_errors_broken_by_an_ok_are_quiet(app, db):
    outcomes = ["error", "error", "ok", "error", "error", "ok"]
    ingest_events(app, db, [event(f"e{n}", at(hour=n), run_id="r", outcome=o) for n, o in enumerate(outcomes)])

    assert alerts(db) == []


def test_more_than_n_tool_calls_is_a_runaway_and_n_is_not(app, db):
    configure(app, anomaly_run_tool_calls=50)
    ingest_events(app, db, [event("a1", at(), run_id="calm", tool_calls=25), event("a2", at(), run_id="calm",
                                                                                   tool_calls=25)])
    ingest_events(app, db, [event("b1", at(), run_id="busy", tool_calls=30), event("b2", at(), run_id="busy",
                                                                                   tool_calls=21)])

    assert alerts(db) == [("runaway_run", "run:busy", TODAY)]


def test_an_agent_over_ten_percent_of_the_daily_budget_alerts_at_ingest(app, db):
    configure(app, daily_budget_usd=Decimal(100))
    ingest_events(app, db, [event(f"c{n}", at(hour=n), cost="3.00", agent="codex") for n in range(4)])  # $12
    ingest_events(app, db, [event(f"d{n}", at(hour=n), cost="3.00", agent="devin") for n in range(3)])  # $9

    assert alerts(db) == [("budget_share", "agent:codex", TODAY)]


def test_the_daily_budget_defaults_to_the_active_sprints_budgets_per_day(app, db):
    add_sprint(db, "Sprint 42", datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC))  # 10 days: 2-11
    for n in range(4):
        set_story(db, f"PROJ-{n + 1}", sprint="Sprint 42", budget_nano_usd=250 * 10**9)  # $1,000 -> $100 a day
    ingest_events(app, db, [event("c1", at(), cost="10.50", agent="codex"), event("d1", at(), cost="9.50",
                                                                                  agent="devin")])
    judged_at_ingest = alerts(db)

    run_scan(app, db)

    assert judged_at_ingest == []  # a derived daily budget costs a query: the clock's scan judges it
    assert alerts(db) == [("budget_share", "agent:codex", TODAY)]


def test_a_rule_switched_off_stays_quiet(app, db):
    configure(app, anomaly_rules_off=["run_cost"])
    ingest_events(app, db, [event("e1", at(), cost="5.00", run_id="r1")])

    assert alerts(db) == []


# --- judged by the clock's scan ---------------------------------------------------------------------------

def history(per_day: str, agent: str = "codex", days: int = 28, model: str = "gpt-4o") -> list[dict]:
    return [event(f"{agent}-h{n}", at(-n), cost=per_day, agent=agent, model=model) for n in range(1, days + 1)]


def test_a_spend_spike_alerts_for_the_organisation_and_the_agent(app, db):
    ingest_events(app, db, history("3.00"))
    ingest_events(app, db, [event("today", at(), cost="7.00", agent="codex")])

    run_scan(app, db)

    assert alerts(db) == [("spend_spike", "agent:codex", TODAY), ("spend_spike", "org", TODAY)]
    slack, = rows(db, "slack.message")
    assert slack.payload["text"].startswith("budgetbot: 2 anomalies")
    assert rows(db, "jira.comment") == []  # not story-level


def test_a_normal_day_is_not_a_spike(app, db):
    ingest_events(app, db, history("3.00"))
    ingest_events(app, db, [event("today", at(), cost="5.00", agent="codex")])

    assert run_scan(app, db) == [] and alerts(db) == []


def test_a_scan_twice_or_after_ingest_alerts_once(app, db):
    ingest_events(app, db, history("3.00"))
    ingest_events(app, db, [event("today", at(), cost="7.00", agent="codex", run_id="big")])
    ingest_alerts = alerts(db)

    run_scan(app, db)
    run_scan(app, db, NOW + timedelta(minutes=10))

    assert ingest_alerts == [("run_cost", "run:big", TODAY)]
    assert sorted(alerts(db)) == [("run_cost", "run:big", TODAY), ("spend_spike", "agent:codex", TODAY),
                                  ("spend_spike", "org", TODAY)]
    assert len(rows(db, "slack.message")) == 2  # the ingest alert, then the scan's two in one message


def test_a_person_over_ten_percent_of_the_daily_budget(app, db):
    configure(app, daily_budget_usd=Decimal(100))
    set_story(db, "PROJ-1", assignee="Ana Lopez")
    set_story(db, "PROJ-2", assignee="Ana Lopez")
    set_story(db, "PROJ-3", assignee="Bo")
    ingest_events(app, db, [event("a1", at(), cost="6.00", story="PROJ-1"), event("a2", at(), cost="6.00",
                                                                                   story="PROJ-2"),
                            event("b1", at(), cost="9.00", story="PROJ-3")])

    run_scan(app, db)

    assert alerts(db) == [("budget_share", "person:Ana Lopez", TODAY)]


def test_cost_per_call_jumping_after_a_model_change(app, db):
    before = [event(f"h{n}", at(-1 - n % 3), cost="0.01", agent="claude-code", model="claude-haiku-4-5")
              for n in range(20)]
    after = [event(f"t{n}", at(hour=n), cost="0.10", agent="claude-code", model="claude-opus-4-1") for n in range(10)]
    ingest_events(app, db, before + after)

    run_scan(app, db)

    assert ("cost_jump", "agent:claude-code", TODAY) in alerts(db)


def test_same_model_dearer_calls_are_not_a_cost_jump(app, db):
    before = [event(f"h{n}", at(-1 - n % 3), cost="0.01", agent="claude-code", model="claude-haiku-4-5")
              for n in range(20)]
    after = [event(f"t{n}", at(hour=n), cost="0.05", agent="claude-code", model="claude-haiku-4-5") for n in range(10)]
    ingest_events(app, db, before + after)

    assert run_scan(app, db) == []


def test_alerts_command_lists_recent_alerts(app, db, cli):
    ingest_events(app, db, [event("e1", datetime.now(UTC).isoformat(), cost="2.00", run_id="r9", story="PROJ-9")])

    listed = cli("alerts", "--since", "1d")
    bad = cli("alerts", "--since", "yesterday")

    assert listed.exit_code == 0 and "run_cost" in listed.output and "run:r9 [PROJ-9]" in listed.output
    assert "has cost $2.00" in listed.output
    assert bad.exit_code != 0 and "not a duration" in bad.output
