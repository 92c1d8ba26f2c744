"""The retro's formats (md, html, json) show the same numbers; --post fits Slack's limits and Jira's contract."""

from __future__ import annotations

import json
import re

from retro_ledger import ledger, prices_file, settings_overrides
from sqlalchemy import select

from bot.ledger.tables import Story
from bot.outbox.tables import OutboxRow
from bot.reports.retro.post import MAX_SECTION, slack_messages
from bot.reports.retro.render import count, money, per_unit, percent, to_doc


def run(cli, *args):
    result = cli("retro", "--sprint", "S2", "--route", "acme=small", *args)
    assert result.exit_code == 0, result.output
    return result.output


def shown_numbers(report: dict) -> list[str]:
    """The figures a reader compares between formats, as every format displays them."""
    h, card = report["headline"], report["scorecard"]
    numbers = [money(h["usd"], h["unpriced_events"]), count(h["tokens"]), percent(card["pass_rate_pct"]),
               percent(report["caching"]["share_pct"]), money(report["caching"]["saved_usd"]),
               money(report["routing"]["premium_usd"]), money(report["routing"]["alternative_usd"]),
               per_unit(report["unit_economics"]["cost_per_resolved_story_usd"], 3),
               per_unit(report["unit_economics"]["cost_per_story_point_usd"], 10)]
    for story in card["stories"]:
        numbers += [count(story["spent"]["tokens"]), money(story["spent"]["usd"], story["spent"]["unpriced_events"])]
    for rows in report["showback"].values():
        numbers += [money(r["usd"], r["unpriced_events"]) for r in rows]
    numbers += [money(t["usd"], t["unpriced_events"]) for t in report["trend"]]
    return numbers


def test_the_three_formats_render_the_same_numbers(cli, ledger):
    report = json.loads(run(cli, "--format", "json"))
    markdown = run(cli, "--format", "md")
    html = run(cli, "--format", "html")

    numbers = shown_numbers(report)
    assert "$1.61 (+1 unpriced)" in numbers and "$0.5283" in numbers and "unpriced" in numbers
    for number in numbers:
        assert number in markdown, number
        assert number in html, number
    assert "$0.00" not in re.sub(r"\| 0 / \$0.00", "", markdown)  # only A-5, which truly spent nothing


def test_json_shape_is_stable(cli, ledger):
    report = json.loads(run(cli, "--format", "json"))

    assert report["schema"] == "budgetbot.retro/1"
    assert list(report) == ["schema", "generated_at", "period", "headline", "scorecard", "estimate_accuracy",
                            "overruns", "caching", "routing", "unit_economics", "showback", "anomalies", "trend",
                            "suggested_budgets"]
    assert report["period"] == {"label": "S2", "sprint": "S2", "start": "2026-03-02T00:00:00Z",
                                "end": "2026-03-14T00:00:00Z", "project": None}
    assert list(report["showback"]) == ["team", "project", "cost_center", "agent", "model"]


def test_html_is_self_contained_escaped_and_has_the_trend_chart(cli, ledger, db):
    with db.transaction() as session:
        session.get(Story, "A-1").summary = '<script>alert("x")</script>'

    html = run(cli, "--format", "html")

    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<svg" in html and "<?xml" not in html  # the chart is inline
    assert not re.search(r"""(src|href)=["']?https?://""", html)  # no CDN, no external fetch
    assert "estimate" in html


def test_out_writes_a_file(cli, ledger, tmp_path):
    target = tmp_path / "retro.md"

    result = cli("retro", "--sprint", "S2", "--out", str(target))

    assert result.exit_code == 0 and target.read_text().startswith("# Retro: S2")


def test_post_jira_enqueues_one_retro_comment_in_the_contract_shape(cli, ledger, db):
    run(cli, "--post", "jira:a-100")
    run(cli, "--post", "jira:A-100")  # posting again replaces the pending comment, it does not add one

    with db.session_factory() as session:
        rows = session.scalars(select(OutboxRow)).all()
    assert len(rows) == 1 and rows[0].kind == "jira.comment"
    payload = rows[0].payload
    assert (payload["key"], payload["marker"]) == ("A-100", "retro")
    assert {block["type"] for block in payload["doc"]} <= {"heading", "paragraph", "bullets", "table", "link"}
    assert payload["doc"][0] == {"type": "heading", "text": "Retro: S2"}
    assert all(isinstance(cell, str) for b in payload["doc"] if b["type"] == "table" for r in b["rows"] for cell in r)


def test_post_slack_enqueues_messages_within_block_kit_limits(cli, ledger, db):
    run(cli, "--post", "slack", "--channel", "#retro")

    with db.session_factory() as session:
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
    assert rows and {row.kind for row in rows} == {"slack.message"}
    for index, row in enumerate(rows, start=1):
        payload = row.payload
        assert payload["channel"] == "#retro" and payload["update_key"] == f"retro:S2:*:{index}"
        assert len(payload["blocks"]) <= 50
        assert all(len(b["text"]["text"]) <= MAX_SECTION for b in payload["blocks"] if b["type"] == "section")
    assert rows[0].payload["image"]["filename"] == "retro-trend.png"  # S1 and S2: a trend to draw
    texts = "\n".join(b["text"]["text"] for row in rows for b in row.payload["blocks"])
    assert "$1.61 (+1 unpriced)" in texts and "10. Suggested budgets" in texts


def test_a_long_report_is_split_into_several_messages_and_sections():
    report_doc = [{"type": "heading", "text": f"Part {n}"} for n in range(30)]
    report_doc += [{"type": "table", "header": ["Story", "Note"],
                    "rows": [[f"PROJ-{n}", "x" * 120 + " <&>"] for n in range(400)]}]

    messages = slack_messages(report_doc)

    sections = [b for m in messages for b in m if b["type"] == "section"]
    assert len(messages) >= 2 and all(len(m) <= 50 for m in messages)
    assert len(sections) > 1 and all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert all(s["text"]["text"].startswith("```") and s["text"]["text"].endswith("```") for s in sections)
    assert "&lt;&amp;&gt;" in sections[0]["text"]["text"]  # Slack's three control characters escaped
    rows_shown = sum(s["text"]["text"].count("PROJ-") for s in sections)
    assert rows_shown == 400


def test_posted_tables_are_capped_with_a_pointer_to_the_full_report(cli, ledger):
    report = json.loads(run(cli, "--format", "json"))
    report["scorecard"]["stories"] *= 20  # 100 rows

    doc = to_doc(report, limit=25)

    table = next(b for b in doc if b["type"] == "table")
    assert len(table["rows"]) == 25
    assert any("75 more rows" in b.get("text", "") for b in doc)


def test_retro_argument_errors_are_clear(cli, ledger):
    both = cli("retro", "--sprint", "S2", "--from", "2026-03-01", "--to", "2026-03-02")
    neither = cli("retro")
    unknown = cli("retro", "--sprint", "S9")
    bad_post = cli("retro", "--sprint", "S2", "--post", "teams")
    bad_key = cli("retro", "--sprint", "S2", "--post", "jira:nokey")
    bad_date = cli("retro", "--from", "March", "--to", "2026-03-02")

    assert both.exit_code != 0 and "either --sprint NAME or both --from" in both.output
    assert neither.exit_code != 0
    assert unknown.exit_code != 0 and "no sprint named 'S9'" in unknown.output and "S2" in unknown.output
    assert bad_post.exit_code != 0 and "slack or jira:KEY" in bad_post.output
    assert bad_key.exit_code != 0 and "not a Jira issue key" in bad_key.output
    assert bad_date.exit_code != 0 and "'March' is not a date" in bad_date.output
