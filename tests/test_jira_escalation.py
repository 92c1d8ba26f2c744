"""Over budget: label, comment mentioning assignee and escalation user, transition by id; edited, not piled up."""

from __future__ import annotations

import pytest
import responses
from jira_support import (
    JIRA,
    body,
    calls,
    drain,
    fixture_copy,
    jira_settings,
    mock_fields,
    post_webhook,
    stored_field_list,
    use,
)
from link_support import unsigned
from sqlalchemy import select

from bot.integrations.jira.tables import JiraComment
from bot.outbox.tables import OutboxRow

ISSUE = f"{JIRA}/rest/api/3/issue/TES-14"
ESCALATE_TO = "5b10a2844c20165700ede21g"
ASSIGNEE = "5cedcb4355a88a0fc86388ba"  # from the recorded webhook

# The webhook reads the field list budgetbot stored; it never asks Jira (tests/test_jira_hostile.py).
pytestmark = pytest.mark.usefixtures("stored_field_list")


@pytest.fixture
def settings_overrides(db_url):
    return jira_settings(db_url, jira_escalation_user=ESCALATE_TO, jira_over_budget_transition="QA Review")


@pytest.fixture
def jira_http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_fields(rsps)
        rsps.put(ISSUE, status=204)
        rsps.get(f"{ISSUE}/transitions", json=fixture_copy("api__transitions_v3.json"))
        rsps.post(f"{ISSUE}/transitions", status=204)
        rsps.get(f"{ISSUE}/comment", json={"startAt": 0, "maxResults": 100, "total": 0, "comments": []})
        rsps.post(f"{ISSUE}/comment", status=201, json=fixture_copy("api__comment_add.json"))
        rsps.put(f"{ISSUE}/comment/10000", status=200, json=fixture_copy("api__comment_add.json"))
        yield rsps


def set_budget_in_jira(client, value: str, identifier: str):
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["changelog"]["items"][0]["toString"] = value
    assert post_webhook(client, payload, identifier=identifier).status_code == 200


def requests_made(rsps, since: int = 0) -> list[str]:
    return [f"{c.request.method} {c.request.url.removeprefix(JIRA)}" for c in rsps.calls[since:]]


def expected_over_comment(spent: str, used: str, cost: str) -> dict:
    def para(*content):
        return {"type": "paragraph", "content": list(content)}

    def text(value, **extra):
        return {"type": "text", "text": value, **extra}

    def bullet(item):
        return {"type": "bulletList", "content": [{"type": "listItem", "content": [para(text(item))]}]}

    def cell(kind, value):
        return {"type": kind, "attrs": {}, "content": [para(text(value))] if value else [para()]}

    return {"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 3}, "content": [text("Over token budget")]},
        para({"type": "mention", "attrs": {"id": ASSIGNEE}}),
        para({"type": "mention", "attrs": {"id": ESCALATE_TO}}),
        para(text("TES-14 has spent more than its budget. Agents should stop here until a person raises the "
                  "budget or splits the story.")),
        {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"}, "content": [
            {"type": "tableRow", "content": [cell("tableHeader", h) for h in ("", "Budget", "Spent", "Used")]},
            {"type": "tableRow", "content": [cell("tableCell", c) for c in ("Tokens", "12", spent, used)]}]},
        para(text("Top agents")),
        bullet(f"coder: {cost}, {spent} tokens"),
        para(text("Top models")),
        bullet(f"gpt-4o: {cost}, {spent} tokens"),
        para(text("TES-14 in budgetbot",
                  marks=[{"type": "link", "attrs": {"href": "https://budgetbot.test/stories/TES-14"}}])),
    ]}


def test_crossing_over_labels_comments_and_transitions_once(app, client, db, jira_http):
    set_budget_in_jira(client, "12", "a")
    use(app, "TES-14", tokens=20, cost_usd="0.004")

    with db.session_factory() as session:
        kinds = [r.kind for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]
    assert kinds == ["jira.spend", "jira.labels", "jira.transition", "jira.comment"]
    assert drain(app) == 3  # the spend write waits for its interval

    assert requests_made(jira_http) == [  # no GET /field: the webhook read the stored field list
        "PUT /rest/api/3/issue/TES-14",
        "GET /rest/api/3/issue/TES-14/transitions",
        "POST /rest/api/3/issue/TES-14/transitions",
        "GET /rest/api/3/issue/TES-14/comment?orderBy=-created&maxResults=100&expand=properties",
        "POST /rest/api/3/issue/TES-14/comment",
    ]
    label, _, transition, _, comment = jira_http.calls
    assert body(label) == {"update": {"labels": [{"add": "over-token-budget"}]}}
    assert body(transition) == {"transition": {"id": "711"}}  # "QA Review" looked up, posted by id
    assert unsigned(body(comment)) == {"body": expected_over_comment("20", "166.7%", "$0.0040"),
                             "properties": [{"key": "budgetbot", "value": {"marker": "over-budget"}}]}
    assert label.request.headers["Authorization"].startswith("Basic ")
    with db.session_factory() as session:
        assert session.scalar(select(JiraComment.comment_id)) == "10000"

    use(app, "TES-14", tokens=5, start=1)  # still over: no second escalation
    assert drain(app) == 0 and len(jira_http.calls) == 5


def test_back_under_removes_the_label_and_a_later_crossing_edits_the_same_comment(app, client, db, jira_http):
    set_budget_in_jira(client, "12", "a")
    use(app, "TES-14", tokens=20, cost_usd="0.004")
    drain(app)
    before = len(jira_http.calls)

    set_budget_in_jira(client, "100", "b")  # the product owner raises the budget
    drain(app)
    assert requests_made(jira_http, before) == ["PUT /rest/api/3/issue/TES-14",
                                                "PUT /rest/api/3/issue/TES-14/comment/10000"]
    removed, note = jira_http.calls[before:]
    assert body(removed) == {"update": {"labels": [{"remove": "over-token-budget"}]}}
    assert body(note)["body"]["content"][0]["content"][0]["text"] == "Back within token budget"
    assert "properties" not in body(note)

    set_budget_in_jira(client, "12", "c")  # lowered again: a second crossing, from the budget side
    drain(app)
    assert requests_made(jira_http, before + 2) == [
        "PUT /rest/api/3/issue/TES-14", "GET /rest/api/3/issue/TES-14/transitions",
        "POST /rest/api/3/issue/TES-14/transitions", "PUT /rest/api/3/issue/TES-14/comment/10000"]
    assert len(calls(jira_http, "POST", "/rest/api/3/issue/TES-14/comment")) == 1


def test_transition_already_done_is_not_an_error(app, client, db, jira_http):
    jira_http.replace(responses.GET, f"{ISSUE}/transitions", json={"transitions": []})
    jira_http.get(ISSUE, json={"key": "TES-14", "fields": {"status": {"name": "QA Review"}}})
    set_budget_in_jira(client, "12", "a")
    use(app, "TES-14", tokens=20)

    drain(app)

    with db.session_factory() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.kind == "jira.transition"))
    assert row.state == "done" and calls(jira_http, "POST", "/rest/api/3/issue/TES-14/transitions") == []
