"""The `jira.comment` contract: created once, edited in place per (key, marker); ADF on Cloud, wiki on Data Center."""

from __future__ import annotations

import pytest
import responses
from jira_support import JIRA, body, drain, fixture_copy, jira_settings
from sqlalchemy import select

from bot.app import create_app
from bot.db import get_db
from bot.integrations.jira.render import escape_wiki
from bot.integrations.jira.tables import JiraComment
from bot.outbox import enqueue
from bot.outbox.tables import OutboxRow

DOC = [
    {"type": "heading", "text": "Burn-down"},
    {"type": "paragraph", "text": "Day 3 of 10: *on track* [not a link|x]"},
    {"type": "bullets", "items": ["coder: $1.20", "reviewer: $0.30"]},
    {"type": "table", "header": ["Day", "Tokens"], "rows": [["Mon", "1,000"], ["Tue", "2|000"]]},
    {"type": "link", "text": "PROJ-7 in budgetbot", "url": "https://budgetbot.test/stories/PROJ-7"},
    {"type": "mention", "account_id": "alice"},
]
COMMENTS = f"{JIRA}/rest/api/3/issue/PROJ-7/comment"


@pytest.fixture
def settings_overrides(db_url):
    return jira_settings(db_url)


def send(app, doc=DOC, marker="burndown", key="PROJ-7") -> None:
    with get_db(app).transaction() as session:
        enqueue(session, "jira.comment", {"key": key, "marker": marker, "doc": doc})
    drain(app)


def comment_rows(db) -> list[tuple]:
    with db.session_factory() as session:
        return session.execute(select(JiraComment.key, JiraComment.marker, JiraComment.comment_id)).all()


@responses.activate
def test_cloud_comment_is_adf_created_once_then_edited_in_place(app, db):
    lookup = responses.get(COMMENTS, json={"comments": []})
    created = responses.post(COMMENTS, status=201, json=fixture_copy("api__comment_add.json"))
    edited = responses.put(f"{COMMENTS}/10000", json=fixture_copy("api__comment_add.json"))

    send(app)
    send(app, doc=[{"type": "paragraph", "text": "Day 4"}])

    assert (lookup.call_count, created.call_count, edited.call_count) == (1, 1, 1)
    adf = body(created.calls[0])["body"]
    assert [node["type"] for node in adf["content"]] == ["heading", "paragraph", "bulletList", "table",
                                                        "paragraph", "paragraph"]
    assert adf["content"][1]["content"] == [{"type": "text", "text": "Day 3 of 10: *on track* [not a link|x]"}]
    assert adf["content"][3]["content"][2]["content"][1]["content"][0]["content"][0]["text"] == "2|000"
    assert adf["content"][5]["content"] == [{"type": "mention", "attrs": {"id": "alice"}}]
    assert body(edited.calls[0]) == {"body": {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Day 4"}]}]}}
    assert comment_rows(db) == [("PROJ-7", "burndown", "10000")]


@responses.activate
def test_a_sent_comment_whose_id_was_lost_is_found_by_its_hidden_marker(app, db):
    responses.get(COMMENTS, json={"comments": [
        {"id": "555", "properties": [{"key": "budgetbot", "value": {"marker": "retro"}}]},
        {"id": "777", "properties": [{"key": "budgetbot", "value": {"marker": "burndown"}}]}]})
    edited = responses.put(f"{COMMENTS}/777", json={"id": "777"})

    send(app)

    assert edited.call_count == 1 and len(responses.calls) == 2  # no duplicate POST


@responses.activate
def test_a_comment_deleted_in_jira_is_posted_again(app, db):
    with get_db(app).transaction() as session:
        session.add(JiraComment(key="PROJ-7", marker="burndown", comment_id="42"))
    responses.put(f"{COMMENTS}/42", status=404, json={"errorMessages": ["Can not find a comment for the id: 42."]})
    created = responses.post(COMMENTS, status=201, json={"id": "43"})

    send(app)

    assert created.call_count == 1 and comment_rows(db) == [("PROJ-7", "burndown", "43")]


@responses.activate
def test_bad_payload_goes_dead_with_a_message(app, db):
    send(app, doc=[{"type": "video"}])

    with db.session_factory() as session:
        row = session.scalar(select(OutboxRow))
    assert row.state == "dead" and "doc[0]: type must be one of" in row.last_error
    assert len(responses.calls) == 0


@responses.activate
def test_data_center_uses_api_v2_wiki_markup_and_a_bearer_token(db_url):
    app = create_app(jira_settings(db_url, jira_email=None, jira_api_token=None,
                                   jira_personal_access_token="dc-pat"))
    v2 = f"{JIRA}/rest/api/2/issue/PROJ-7/comment"
    responses.get(v2, json={"comments": []})
    created = responses.post(v2, status=201, json={"id": "10100"})
    edited = responses.put(f"{v2}/10100", json={"id": "10100"})

    with app.app_context():
        send(app)
        send(app)

    assert body(created.calls[0]) == {
        "body": "{anchor:budgetbot-burndown}\n\n"
                "h3. Burn\\-down\n\n"
                "Day 3 of 10: \\*on track\\* \\[not a link\\|x\\]\n\n"
                "* coder: $1.20\n* reviewer: $0.30\n\n"
                "||Day||Tokens||\n|Mon|1,000|\n|Tue|2\\|000|\n\n"
                "[PROJ\\-7 in budgetbot|https://budgetbot.test/stories/PROJ-7]\n\n"
                "[~alice]",
        "properties": [{"key": "budgetbot", "value": {"marker": "burndown"}}]}
    assert created.calls[0].request.headers["Authorization"] == "Bearer dc-pat"
    assert edited.call_count == 1 and "properties" not in body(edited.calls[0])
    get_db(app).dispose()


def test_wiki_escaping_keeps_text_as_typed():
    assert escape_wiki("h1. {color:red}x{color} !img.png! -strike- _em_") == (
        "h1\\. \\{color:red\\}x\\{color\\} \\!img.png\\! \\-strike\\- \\_em\\_")
