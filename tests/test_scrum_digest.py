"""The daily digest on a frozen clock: sprint figures, burn-down comments, the weekend, the day a sprint starts, an
empty sprint, a DST change, and running it twice (posts once, then edits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses
import time_machine
from link_support import unsigned
from scrum_support import SLACK, add_sprint, body, drain, event, ingest_events, rows, set_story, urllib_through_requests

from bot.reports import blocks
from bot.reports.scrum.digest import run

USD = 10**9
MONDAY_9AM_BERLIN = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
SPRINT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "public_url": "https://budgetbot.test", "timezone": "Europe/Berlin",
            "slack_token": "xoxb-t", "slack_channel": "#budget", "slack_api_url": SLACK,
            # With these small budgets every agent is over 10% of the sprint's daily budget: tested elsewhere.
            "anomaly_rules_off": ["budget_share"], "anomaly_run_usd": 1}  # the old default, which run-9 trips


def day(n: int, hour: int = 12) -> str:
    return (SPRINT_START.replace(hour=hour) + timedelta(days=n)).isoformat()


@pytest.fixture
def sprint(app, db):
    """Sprint 42, two weeks from Monday 2 March; on Monday 9 March at 09:00 (Berlin) it is on day 8 of 15."""
    add_sprint(db, "Sprint 42", SPRINT_START, SPRINT_START + timedelta(days=14))
    add_sprint(db, "Sprint 41", SPRINT_START - timedelta(days=14), SPRINT_START, state="closed")
    set_story(db, "PROJ-1", sprint="Sprint 42", summary="Checkout <fast>", budget_nano_usd=10 * USD)
    set_story(db, "PROJ-2", sprint="Sprint 42", summary="Refunds", budget_nano_usd=2 * USD)
    set_story(db, "PROJ-3", sprint="Sprint 42", summary="Spike, no budget")
    set_story(db, "PROJ-4", sprint="Sprint 42", summary="Invoices", budget_nano_usd=10 * USD)
    set_story(db, "PROJ-5", sprint="Sprint 41", budget_nano_usd=USD)
    set_story(db, "PROJ-6", sprint="Sprint 42", summary="Not started", budget_tokens=100_000)
    events = [event(f"p1-{n}", day(n), cost="1.00", story="PROJ-1", agent="claude-code",
                    model="claude-sonnet-4-5") for n in range(7)]  # $1 a day: runs out Thursday, 140% at the end
    events += [event("p2-a", day(1), cost="1.25", story="PROJ-2", agent="codex", model="gpt-5"),
               event("p2-b", day(5), cost="1.25", story="PROJ-2", agent="codex", model="gpt-5")]  # over
    events += [event("p3", day(6), cost="0.30", story="PROJ-3", agent="codex", model="gpt-5")]
    events += [event("p4-a", day(1), cost="7.50", story="PROJ-4", agent="codex", model="gpt-5"),
               event("p4-b", day(5), cost="1.00", story="PROJ-4", agent="devin", model="o3")]  # 75% -> 85% Fri
    events += [event("p5", day(5), cost="9.00", story="PROJ-5", agent="codex", model="gpt-5", run_id="run-9")]
    with time_machine.travel(day(6, hour=20), tick=False):  # Sunday night: the $9 run alerts then
        ingest_events(app, db, events)


def digest(app, db, now, send=True):
    with time_machine.travel(now, tick=False), app.app_context(), db.transaction() as session:
        return run(session, app.config["SETTINGS"], send=send)


def test_monday_digest_reports_the_weekend_and_the_sprint(app, db, sprint):
    result = digest(app, db, MONDAY_9AM_BERLIN)
    text = blocks.slack_as_text(result.blocks)

    assert result.update_key == "digest:2026-03-09"
    assert result.blocks[0]["text"]["text"] == "Token digest · Mon 9 Mar"
    assert ("*Sprint 42* · day 8 of 15 · ends Mon 16 Mar\nSpent *$18.00* of *$22.00* budgeted (82%); the ideal "
            "line is at $11.00 (50%) by now, so the sprint is *over* it.") in result.blocks[1]["text"]["text"]
    assert "5 stories: 1 over budget, 2 at risk." in text
    assert "Stories without a dollar budget spent $0.30 more." in text
    over, risk, newly = (unsigned(b["text"]["text"]) for b in result.blocks[2:5])  # links are signed
    assert over == "*Over budget (1)*\n• <https://budgetbot.test/stories/PROJ-2|PROJ-2> Refunds — $2.50 of $2.00 (125%)"
    assert risk.splitlines()[0] == "*At risk (2)*"
    assert ("• <https://budgetbot.test/stories/PROJ-1|PROJ-1> Checkout &lt;fast&gt; — $7.00 of $10.00, projected "
            "140% at sprint end, runs out Thursday") in risk
    assert newly == ("*Newly in warning (1)*\n• <https://budgetbot.test/stories/PROJ-4|PROJ-4> Invoices — $8.50 of "
                     "$10.00 (85%)")
    # Friday to Sunday: Monday's digest picks up where Friday's stopped. PROJ-5 (closed sprint) still spent.
    spenders = next(unsigned(b["text"]["text"]) for b in result.blocks if b["type"] == "section"
                    and b["text"]["text"].startswith("*Biggest"))
    assert spenders.splitlines() == [
        "*Biggest spenders, Fri 6 Mar – Sun 8 Mar* — $14.55, 7.7k tokens",
        "*Stories:* <https://budgetbot.test/stories/PROJ-5|PROJ-5> $9.00 · <https://budgetbot.test/stories/PROJ-1|"
        "PROJ-1> $3.00 · <https://budgetbot.test/stories/PROJ-2|PROJ-2> $1.25 · "
        "<https://budgetbot.test/stories/PROJ-4|PROJ-4> $1.00 · <https://budgetbot.test/stories/PROJ-3|PROJ-3> $0.30",
        "*Agents:* codex $10.55 · claude-code $3.00 · devin $1.00",
        "*Models:* gpt-5 $10.55 · claude-sonnet-4-5 $3.00 · o3 $1.00"]
    assert ("*Anomalies since Fri 6 Mar*\n• Run run-9 (codex on PROJ-5) has cost $9.00 over 1 call, above the "
            "$1.00 limit per run") in text
    assert result.chart_png.startswith(b"\x89PNG") and result.chart_title == "Sprint 42: remaining budget"
    assert len(result.blocks) <= 50


def test_one_burndown_comment_per_story_with_budget_or_spend_in_the_active_sprint(app, db, sprint):
    digest(app, db, MONDAY_9AM_BERLIN)

    comments = {row.payload["key"]: row.payload for row in rows(db, "jira.comment")
                if row.payload["marker"] == "burndown"}
    assert sorted(comments) == ["PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4", "PROJ-6"]
    proj1 = comments["PROJ-1"]
    assert proj1["marker"] == "burndown"
    assert proj1["doc"][:3] == [
        {"type": "heading", "text": "Token burn-down · Sprint 42 · day 8 of 15"},
        {"type": "paragraph", "text": "Status: ok. $10.00 budget, $7.00 spent (70%), $3.00 remaining; "
                                      "7.7k tokens used."},
        {"type": "paragraph", "text": "At the current burn rate of $1.00/day the budget runs out Thursday; "
                                      "projected 140% of budget at sprint end (Mon 16 Mar)."}]
    table = proj1["doc"][3]
    assert table["header"] == ["Day (CET)", "Spent", "Tokens", "Total spent"]  # team days
    assert table["rows"][0] == ["Mon 2 Mar", "$1.00", "1.1k", "$1.00"]
    assert table["rows"][-1] == ["Mon 9 Mar (today)", "$0.00", "0", "$7.00"]
    assert {"type": "bullets", "items": ["claude-code: $7.00 (100%), 7.7k tokens"]} in proj1["doc"]
    assert {"type": "bullets", "items": ["claude-sonnet-4-5: $7.00 (100%), 7.7k tokens"]} in proj1["doc"]
    link = {"type": "link", "text": "PROJ-1 in budgetbot", "url": "https://budgetbot.test/stories/PROJ-1"}
    assert link in unsigned(proj1["doc"])
    assert comments["PROJ-6"]["doc"][1]["text"] == ("Status: ok. 100k tokens budget, 0 tokens spent (0%), 100k tokens "
                                                   "remaining; $0.00 spent.")
    assert comments["PROJ-3"]["doc"][1]["text"] == "Status: no budget. $0.30 spent; 1.1k tokens used."
    assert comments["PROJ-6"]["doc"][2]["text"] == ("No spend in this sprint yet: projected 0% of budget at "
                                                   "sprint end (Mon 16 Mar).")


def test_running_the_digest_twice_posts_once_then_edits(app, db, sprint, monkeypatch):
    urllib_through_requests(monkeypatch)
    with responses.RequestsMock() as slack:
        slack.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C42", "ts": "1773043200.000100"})
        slack.post(SLACK + "files.getUploadURLExternal", json={"ok": True, "upload_url": "https://files.slack.test/u1",
                                                               "file_id": "F1"})
        slack.post("https://files.slack.test/u1", body="OK")
        slack.post(SLACK + "files.completeUploadExternal", json={"ok": True, "files": [{"id": "F1"}]})
        slack.post(SLACK + "chat.update", json={"ok": True, "channel": "C42", "ts": "1773043200.000100"})

        drain(app, db)  # the alert of Sunday night
        slack.calls.reset()
        first = digest(app, db, MONDAY_9AM_BERLIN)
        drain(app, db)
        second = digest(app, db, MONDAY_9AM_BERLIN + timedelta(hours=2))  # `budgetbot digest --now` later on
        drain(app, db)

        assert [c.request.url.removeprefix(SLACK) for c in slack.calls] == [
            "chat.postMessage", "files.getUploadURLExternal", "https://files.slack.test/u1",
            "files.completeUploadExternal", "chat.update"]
        assert body(slack.calls[0])["blocks"] == first.blocks
        assert body(slack.calls[0])["channel"] == "#budget"
        assert body(slack.calls[3])["thread_ts"] == "1773043200.000100"
        assert body(slack.calls[4]) == {"channel": "C42", "ts": "1773043200.000100", "text": second.text,
                                        "blocks": second.blocks}
    # The Jira comments were not sent in between (no Jira sender here): the second run coalesced into them.
    keys = [row.payload["key"] for row in rows(db, "jira.comment", "pending") if row.payload["marker"] == "burndown"]
    assert sorted(keys) == ["PROJ-1", "PROJ-2", "PROJ-3", "PROJ-4", "PROJ-6"]


def test_the_day_a_sprint_starts(app, db):
    start = datetime(2026, 3, 16, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    add_sprint(db, "Sprint 43", start, start + timedelta(days=14))
    set_story(db, "PROJ-7", sprint="Sprint 43", budget_nano_usd=5 * USD)
    ingest_events(app, db, [event("early", (start + timedelta(minutes=30)).isoformat(), cost="0.50",
                                  story="PROJ-7")])

    result = digest(app, db, datetime(2026, 3, 16, 8, 0, tzinfo=UTC))

    assert ("*Sprint 43* · day 1 of 15 · ends Mon 30 Mar\nSpent *$0.50* of *$5.00* budgeted (10%); the ideal line "
            "is at $0.01 (0%) by now") in result.blocks[1]["text"]["text"]
    (_key, doc), = result.comments
    assert doc[2]["text"] == ("Too early to project: the sprint started less than a day ago. Spent $0.50 so far.")
    assert "No story is over budget or at risk." in blocks.slack_as_text(result.blocks)


def test_an_empty_sprint_and_no_sprint_at_all(app, db):
    empty = digest(app, db, MONDAY_9AM_BERLIN)
    add_sprint(db, "Sprint 44", SPRINT_START, SPRINT_START + timedelta(days=14))
    quiet = digest(app, db, MONDAY_9AM_BERLIN)

    assert empty.blocks[1]["text"]["text"].startswith("No active sprint")
    assert quiet.blocks[1]["text"]["text"] == ("*Sprint 44* · day 8 of 15 · ends Mon 16 Mar\n"
                                               "No stories with a budget or spend in this sprint yet.")
    assert quiet.comments == [] and quiet.chart_png is None
    assert "chart" not in quiet.blocks[-1]["elements"][0]["text"]
    assert rows(db, "jira.comment") == []
    assert len(rows(db, "slack.message")) == 1  # the same day's update key: one message, updated


def test_across_a_daylight_saving_change(app, db):
    # Berlin moves to summer time on Sunday 29 March: Monday's 09:00 digest is at 07:00 UTC, not 08:00.
    add_sprint(db, "Sprint 43", datetime(2026, 3, 23, 8, tzinfo=UTC), datetime(2026, 4, 6, 7, tzinfo=UTC))
    set_story(db, "PROJ-8", sprint="Sprint 43", budget_nano_usd=14 * USD)
    ingest_events(app, db, [event(f"d{n}", (datetime(2026, 3, 23, 12, tzinfo=UTC) + timedelta(days=n)).isoformat(),
                                  cost="1.00", story="PROJ-8") for n in range(7)])

    result = digest(app, db, datetime(2026, 3, 30, 7, 0, 30, tzinfo=UTC))

    assert result.update_key == "digest:2026-03-30"
    assert "*Biggest spenders, Fri 27 Mar – Sun 29 Mar* — $3.00" in blocks.slack_as_text(result.blocks)
    assert result.comments[0][1][0]["text"] == "Token burn-down · Sprint 43 · day 8 of 15"


def test_dry_run_prints_the_message_and_each_comment_and_enqueues_nothing(app, db, sprint, cli):
    before = len(rows(db))
    with time_machine.travel(MONDAY_9AM_BERLIN, tick=False):
        result = cli("digest", "--dry-run", env={"BUDGETBOT_TIMEZONE": "Europe/Berlin",
                                                "BUDGETBOT_PUBLIC_URL": "https://budgetbot.test"})

    assert result.exit_code == 0, result.output
    assert "=== Token digest · Mon 9 Mar ===" in result.output
    output = unsigned(result.output)
    assert "• PROJ-2 Refunds — $2.50 of $2.00 (125%) (https://budgetbot.test/stories/PROJ-2)" not in output
    assert "• Refunds" not in output
    assert "PROJ-2 (https://budgetbot.test/stories/PROJ-2) Refunds — $2.50 of $2.00 (125%)" in output
    assert "Jira comment on PROJ-1 (marker burndown, edited in place)" in result.output
    assert "## Token burn-down · Sprint 42 · day 8 of 15" in result.output
    assert "  Mon 2 Mar          $1.00  1.1k    $1.00" in result.output  # a table, columns aligned
    assert "[chart: Sprint 42: remaining budget" in result.output
    assert len(rows(db)) == before


def test_digest_needs_one_of_dry_run_or_now(cli, db):
    result = cli("digest")

    assert result.exit_code != 0 and "choose one: --dry-run (print it) or --now (send it)" in result.output


def test_digest_now_enqueues_for_the_worker(app, db, sprint, cli):
    with time_machine.travel(MONDAY_9AM_BERLIN, tick=False):
        result = cli("digest", "--now", env={"BUDGETBOT_TIMEZONE": "Europe/Berlin"})

    assert result.exit_code == 0
    assert "digest digest:2026-03-09 enqueued: 1 Slack message, 5 Jira comments" in result.output
    digests = [row for row in rows(db, "slack.message") if row.payload["update_key"].startswith("digest:")]
    burndowns = [row for row in rows(db, "jira.comment") if row.payload["marker"] == "burndown"]
    assert len(digests) == 1 and len(burndowns) == 5



def test_a_sprint_without_dates_gets_figures_but_no_projection(app, db):
    add_sprint(db, "Kanban", None, None)
    set_story(db, "PROJ-9", sprint="Kanban", budget_nano_usd=5 * USD)
    ingest_events(app, db, [event("k1", day(3), cost="1.00", story="PROJ-9")])

    result = digest(app, db, MONDAY_9AM_BERLIN)

    assert result.blocks[1]["text"]["text"].startswith("*Kanban*\nSpent *$1.00* of *$5.00* budgeted (20%)")
    (_key, doc), = result.comments
    assert "table" not in [block["type"] for block in doc]
    assert {"type": "bullets", "items": ["(not reported): $1.00 (100%), 1.1k tokens"]} in doc  # no agent named
    assert doc[2]["text"] == "Kanban has no start and end dates, so there is no projection."
    assert result.chart_png is None
