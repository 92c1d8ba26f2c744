"""The retro report: every figure checked against the hand-worked ledger in tests/retro_ledger.py."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from retro_ledger import ledger, prices_file, settings_overrides, utc

from bot.app_pricer import get_pricer
from bot.ledger.tables import Sprint
from bot.reports.retro.period import date_range, previous_periods, sprint_period
from bot.reports.retro.report import build


def retro(app, db, sprint="S2", project=None, **period):
    with app.app_context(), db.session_factory() as session:
        chosen = sprint_period(session, sprint) if sprint else date_range(period["start"], period["end"])
        return build(session, chosen, pricer=get_pricer(), warn_threshold=Decimal("0.8"), project=project,
                     economy={"acme": "small"})


def by_key(items, field="key"):
    return {item[field]: item for item in items}


def test_headline_sums_the_period_and_keeps_unpriced_apart(app, ledger):
    head = retro(app, ledger)["headline"]

    # e1..e7: 50k+10k+15k+50k+2k+110k+2k tokens; $0.52+0.01+0.25+0.70+0.085+0.04, e5 unpriced.
    assert (head["events"], head["unpriced_events"], head["tokens"]) == (7, 1, 239_000)
    assert head["usd"] == "1.605"
    assert (head["stories"], head["resolved"]) == (5, 3)


def test_scorecard_judges_lifetime_spend_and_flags_300_percent(app, ledger):
    card = retro(app, ledger)["scorecard"]
    stories = by_key(card["stories"])

    # A-1 spent e0 (in S1) too: 80k of 100k = 80% -> warning, still a pass.
    assert stories["A-1"]["spent"] == {"tokens": 80_000, "usd": "0.55", "events": 3, "unpriced_events": 0}
    assert stories["A-1"]["in_period"] == {"tokens": 60_000, "usd": "0.53"}
    assert (stories["A-1"]["status"], stories["A-1"]["percent"]["tokens"]) == ("warning", "80.0")
    # 65k of 20k = 325% -> over and a failed goal.
    assert (stories["A-2"]["status"], stories["A-2"]["ratio"], stories["A-2"]["failed_goal"]) == ("over", "3.25", True)
    assert stories["A-4"]["status"] == "no_budget" and stories["A-4"]["ratio"] is None
    assert stories["A-5"]["spent"]["tokens"] == 0 and stories["A-5"]["status"] == "ok"
    # Budgeted; passed. A-3 has a dollar budget and only unpriced spend: it is
    # unmeasured, not passed, and out of the pass rate's denominator (issue 12).
    assert (card["budgeted"], card["passed"], card["over"], card["pass_rate_pct"]) == (4, 2, 1, "66.7")
    assert card["unmeasured"] == 1
    assert card["failed_goals"] == ["A-2"]
    assert [s["key"] for s in card["stories"]][:2] == ["A-2", "A-1"]  # worst first
    assert all(s["pr_check"]["conclusion"] == "unknown" for s in card["stories"])


def test_story_with_only_unpriced_events_is_unpriced_never_zero(app, ledger):
    report = retro(app, ledger)
    a3 = by_key(report["scorecard"]["stories"])["A-3"]

    assert a3["spent"] == {"tokens": 2_000, "usd": None, "events": 1, "unpriced_events": 1}
    assert a3["status"] == "unpriced"
    assert a3["percent"]["usd"] is None and a3["ratio"] is None
    assert report["estimate_accuracy"]["unmeasured"] == ["A-3"]
    assert by_key(report["showback"]["model"], "name")["mystery"]["usd"] is None


def test_estimate_accuracy(app, ledger):
    acc = retro(app, ledger)["estimate_accuracy"]

    # Ratios 0.00, 0.80, 3.25. Linear interpolation: p25 = 0.40, p75 = 0.8 + 0.5 * 2.45.
    assert {s["key"]: s["ratio"] for s in acc["stories"]} == {"A-2": "3.25", "A-1": "0.80", "A-5": "0.00"}
    assert (acc["median"], acc["p25"], acc["p75"], acc["min"], acc["max"]) == ("0.80", "0.40", "2.03", "0.00", "3.25")
    assert acc["no_budget"] == ["A-4"]


def test_where_the_overruns_went(app, ledger):
    over = retro(app, ledger)["overruns"]

    a2 = by_key(over["stories"])["A-2"]
    assert [(r["name"], r["tokens"], r["usd"]) for r in a2["by_agent"]] == [("reviewer", 65_000, "0.95")]
    assert [(r["name"], r["usd"]) for r in a2["by_model"]] == [("big", "0.95")]
    assert [(r["run_id"], r["usd"]) for r in a2["top_runs"]] == [("r3", "0.70"), ("r2", "0.25")]
    assert (a2["errors"]["events"], a2["errors"]["tokens"], a2["errors"]["usd"]) == (1, 50_000, "0.70")
    # Input per call: 10k on 03-03, 40k on 03-04 -> context grew 4x.
    assert a2["input_per_call"] == [{"day": "2026-03-03", "calls": 1, "avg_input_tokens": 10_000},
                                    {"day": "2026-03-04", "calls": 1, "avg_input_tokens": 40_000}]
    assert a2["context_growth"] == "4.00"
    assert [(r["run_id"], r["story"], r["usd"]) for r in over["top_runs"]] == [
        ("r3", "A-2", "0.70"), ("r1", "A-1", "0.53"), ("r2", "A-2", "0.25"), ("r4", "A-4", "0.085")]
    assert (over["errors"]["events"], over["errors"]["tokens"]) == (1, 50_000)


def test_caching_share_and_savings(app, ledger):
    cache = retro(app, ledger)["caching"]

    # 70k of 202k input tokens from cache. Saved: big 20k x ($10 - $1)/M = 0.18; small 50k x ($1 - $0.1)/M = 0.045.
    assert (cache["input_tokens"], cache["cache_read_tokens"], cache["share_pct"]) == (202_000, 70_000, "34.7")
    assert cache["saved_usd"] == "0.225"
    assert {m["model"]: m["saved_usd"] for m in cache["by_model"]} == {"big": "0.18", "small": "0.045"}


def test_model_routing_is_an_estimate_on_the_cheaper_model(app, ledger):
    routing = retro(app, ledger)["routing"]

    # big's events (e1, e3, e4, e7) cost 1.51; at small's rates: 0.052 + 0.025 + 0.070 + 0.004 = 0.151.
    assert routing["estimate"] is True and "Estimate" in routing["basis"]
    assert [(m["model"], m["alternative"], m["tokens"]) for m in routing["models"]] == [("big", "small", 117_000)]
    assert (routing["premium_usd"], routing["alternative_usd"], routing["difference_usd"]) == ("1.51", "0.151", "1.359")


def test_unit_economics(app, ledger):
    unit = retro(app, ledger)["unit_economics"]

    # Resolved by 03-14: A-1 (0.55), A-2 (0.95), A-4 (0.085) = 1.585 over 3 stories and 10 points.
    assert unit["resolved_stories"] == 3
    assert unit["cost_per_resolved_story_usd"] == "0.528333"
    assert unit["fully_loaded_cost_per_resolved_story_usd"] == "0.535"  # 1.605 / 3
    assert (unit["story_points"], unit["cost_per_story_point_usd"]) == ("10", "0.1585")


def test_showback_by_team_project_cost_center_agent_model(app, ledger):
    show = retro(app, ledger)["showback"]

    def table(name):
        return [(r["name"], r["tokens"], r["usd"], r["unpriced_events"]) for r in show[name]]

    assert table("team") == [("core", 125_000, "1.48", 0), ("web", 110_000, "0.085", 0), ("(none)", 4_000, "0.04", 1)]
    assert table("cost_center")[:2] == [("CC1", 125_000, "1.48", 0), ("CC2", 110_000, "0.085", 0)]
    assert table("project") == [("A", 237_000, "1.565", 1), ("(no story)", 2_000, "0.04", 0)]
    assert table("agent") == [("reviewer", 65_000, "0.95", 0), ("coder", 172_000, "0.615", 1),
                              ("chat", 2_000, "0.04", 0)]
    assert table("model") == [("big", 117_000, "1.51", 0), ("small", 120_000, "0.095", 0),
                              ("mystery", 2_000, None, 1)]


def test_trend_compares_with_the_earlier_sprint(app, ledger):
    trend = retro(app, ledger)["trend"]

    assert [t["label"] for t in trend] == ["S1", "S2"]
    s1 = trend[0]
    # S1 holds e0 only: A-1 spent 20k ($0.02) there; it was resolved later, so nothing resolved in S1.
    assert (s1["events"], s1["tokens"], s1["usd"], s1["stories"], s1["resolved"]) == (1, 20_000, "0.02", 1, 0)
    assert (s1["pass_rate_pct"], s1["cache_share_pct"], s1["cost_per_resolved_story_usd"]) == ("100.0", "0.0", None)
    assert trend[1]["usd"] == "1.605" and trend[1]["failed_goals"] == 1


def test_a_period_without_alerts_says_so(app, ledger):
    assert retro(app, ledger)["anomalies"] == {"available": True, "alerts": []}


def test_suggested_budgets_need_three_similar_stories(app, ledger):
    suggestions = retro(app, ledger)["suggested_budgets"]

    assert suggestions["groups"] == []
    assert suggestions["too_few"] == ["2 points (1)", "3 points (1)", "5 points (1)"]
    assert "75th percentile" in suggestions["method"]


def test_project_filter_leaves_out_other_projects_and_unattributed_spend(app, ledger):
    head = retro(app, ledger, project="B")["headline"]
    a = retro(app, ledger, project="A")["headline"]

    assert (head["events"], head["stories"], head["usd"]) == (0, 0, "0.00")
    assert (a["events"], a["tokens"], a["usd"]) == (6, 237_000, "1.565")  # all but e7 (no story)


def test_date_range_without_sprints_compares_with_earlier_windows(app, ledger):
    report = retro(app, ledger, sprint=None, start="2026-03-02", end="2026-03-13")

    assert report["period"]["sprint"] is None
    assert report["headline"]["events"] == 7
    assert report["scorecard"]["budgeted"] == 3  # the ones that spent; A-5 only joins by sprint
    assert [t["label"] for t in report["trend"]] == ["S1", "2026-03-02 to 2026-03-13"]


def test_a_sprint_with_no_events(app, db, cli):
    assert cli("sprint", "add", "Empty", "--start", "2026-05-04", "--end", "2026-05-15").exit_code == 0

    result = cli("retro", "--sprint", "Empty", "--format", "json")

    report = json.loads(result.output)
    assert result.exit_code == 0
    assert report["headline"] | {"label": None} == report["headline"] | {
        "label": None, "events": 0, "unpriced_events": 0, "tokens": 0, "usd": "0.00", "stories": 0,
        "pass_rate_pct": None, "cache_share_pct": None, "cost_per_resolved_story_usd": None}
    assert report["scorecard"]["stories"] == [] and report["overruns"]["stories"] == []
    assert report["trend"][-1]["label"] == "Empty"
    for fmt in ("md", "html"):
        assert cli("retro", "--sprint", "Empty", "--format", fmt).exit_code == 0


def test_trend_of_a_jira_sprint_stays_on_its_board(app, db):
    with db.transaction() as session:
        for name, board, start in (("B1 old", 1, "2026-02-02"), ("B2 old", 2, "2026-02-09"),
                                   ("B1 now", 1, "2026-03-02")):
            session.add(Sprint(name=name, board_id=board, start_at=utc(start), end_at=utc(start) + timedelta(days=14)))
    with db.session_factory() as session:
        earlier = previous_periods(session, sprint_period(session, "B1 now"))

    assert [p.label for p in earlier] == ["B1 old"]
