"""The `slack.message` sender: exact Slack requests, edits by stored ts, the chart upload, and error mapping."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import responses
from scrum_support import SLACK, body, drain, rows, urllib_through_requests
from sqlalchemy import select

from bot.db import get_db
from bot.integrations.slack.sender import send_message
from bot.integrations.slack.tables import SlackMessage
from bot.outbox import PermanentError, RetryableError, SendContext, enqueue

PNG = b"\x89PNG\r\n\x1a\nfake-chart"
TOKEN = "xoxb-test-token"


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "slack_token": TOKEN, "slack_channel": "#budget",
            "slack_api_url": SLACK}


@pytest.fixture
def slack(monkeypatch):
    urllib_through_requests(monkeypatch)
    with responses.RequestsMock() as mock:
        yield mock


def message(**extra) -> dict:
    payload = {"channel": None, "text": "fallback", "blocks": [{"type": "section", "text": {
        "type": "mrkdwn", "text": "*hello*"}}], "update_key": "digest:2026-03-09", "image": None}
    payload.update(extra)
    return payload


def send(app, payload):
    with app.app_context():
        return send_message(payload, SendContext(settings=app.config["SETTINGS"], dry_run=False, now=None,
                                                 db=get_db(app)))


def test_first_send_posts_and_stores_the_ts_then_a_resend_edits(app, db, slack):
    slack.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C42", "ts": "1700.0001"})
    slack.post(SLACK + "chat.update", json={"ok": True, "channel": "C42", "ts": "1700.0001"})

    send(app, message())
    send(app, message(text="second"))

    assert [c.request.url for c in slack.calls] == [SLACK + "chat.postMessage", SLACK + "chat.update"]
    assert body(slack.calls[0]) == {"channel": "#budget", "text": "fallback", "unfurl_links": False,
                                    "unfurl_media": False, "blocks": message()["blocks"]}
    assert body(slack.calls[1]) == {"channel": "C42", "ts": "1700.0001", "text": "second",
                                    "blocks": message()["blocks"]}
    assert slack.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    with db.session_factory() as session:
        assert session.get(SlackMessage, "digest:2026-03-09").ts == "1700.0001"


def test_chart_goes_to_the_thread_with_files_upload_v2_and_is_not_uploaded_twice(app, slack):
    slack.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C42", "ts": "1700.0001"})
    slack.post(SLACK + "files.getUploadURLExternal",
               json={"ok": True, "upload_url": "https://files.slack.test/upload/v1/abc", "file_id": "F1"})
    slack.post("https://files.slack.test/upload/v1/abc", body="OK - 18")
    slack.post(SLACK + "files.completeUploadExternal", json={"ok": True, "files": [{"id": "F1", "title": "Chart"}]})
    slack.post(SLACK + "chat.update", json={"ok": True, "channel": "C42", "ts": "1700.0001"})
    image = {"title": "Chart", "filename": "burndown.png", "png_b64": base64.b64encode(PNG).decode()}

    send(app, message(image=image))
    send(app, message(image=image))  # same chart: the edit does not upload it again

    assert [c.request.url for c in slack.calls] == [
        SLACK + "chat.postMessage", SLACK + "files.getUploadURLExternal", "https://files.slack.test/upload/v1/abc",
        SLACK + "files.completeUploadExternal", SLACK + "chat.update"]
    assert body(slack.calls[1]) == {"filename": "burndown.png", "length": str(len(PNG))}
    assert slack.calls[2].request.body == PNG
    complete = body(slack.calls[3])
    assert json.loads(complete["files"]) == [{"id": "F1", "title": "Chart"}]
    assert (complete["channel_id"], complete["thread_ts"]) == ("C42", "1700.0001")


def test_a_new_chart_replaces_the_old_one(app, db, slack):
    with db.transaction() as session:
        session.add(SlackMessage(update_key="digest:2026-03-09", channel_id="C42", ts="1700.0001", file_id="F0",
                                 image_sha256="old"))
    slack.post(SLACK + "chat.update", json={"ok": True})
    slack.post(SLACK + "files.getUploadURLExternal", json={"ok": True, "upload_url": "https://files.slack.test/u",
                                                           "file_id": "F1"})
    slack.post("https://files.slack.test/u", body="OK")
    slack.post(SLACK + "files.completeUploadExternal", json={"ok": True, "files": [{"id": "F1"}]})
    slack.post(SLACK + "files.delete", json={"ok": True})
    image = {"title": "Chart", "filename": "burndown.png", "png_b64": base64.b64encode(PNG).decode()}

    send(app, message(image=image))

    assert slack.calls[-1].request.url == SLACK + "files.delete"
    assert body(slack.calls[-1]) == {"file": "F0"}
    with db.session_factory() as session:
        assert session.get(SlackMessage, "digest:2026-03-09").file_id == "F1"


def test_a_deleted_message_is_posted_again(app, db, slack):
    with db.transaction() as session:
        session.add(SlackMessage(update_key="digest:2026-03-09", channel_id="C42", ts="1.1"))
    slack.post(SLACK + "chat.update", json={"ok": False, "error": "message_not_found"})
    slack.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C42", "ts": "2.2"})

    send(app, message())

    with db.session_factory() as session:
        assert session.get(SlackMessage, "digest:2026-03-09").ts == "2.2"


def test_429_is_retryable_after_retry_after_and_sent_once(app, slack):
    slack.post(SLACK + "chat.postMessage", status=429, headers={"Retry-After": "30"},
               json={"ok": False, "error": "ratelimited"})

    with pytest.raises(RetryableError) as caught:
        send(app, message())

    assert caught.value.retry_after == 30.0
    assert len(slack.calls) == 1  # slack_sdk's own retry handlers are off: the outbox decides when


@pytest.mark.parametrize(("error", "words"), [
    ("invalid_auth", "BUDGETBOT_SLACK_TOKEN is not a valid token"),
    ("channel_not_found", "channel '#budget' not found: check BUDGETBOT_SLACK_CHANNEL"),
    ("not_in_channel", "invite it"),
])
def test_errors_no_retry_can_fix_are_permanent_with_a_hint(app, slack, error, words):
    slack.post(SLACK + "chat.postMessage", json={"ok": False, "error": error})

    with pytest.raises(PermanentError) as caught:
        send(app, message())

    assert words in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(slack.calls) == 1


def test_server_errors_and_unreachable_slack_are_retryable(app, slack):
    slack.post(SLACK + "chat.postMessage", status=503, body="upstream down")

    with pytest.raises(RetryableError):
        send(app, message())
    assert len(slack.calls) == 1


def test_without_a_token_the_request_is_recorded_not_sent(app, db, slack):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"slack_token": None})
    image = {"title": "Chart", "filename": "burndown.png", "png_b64": base64.b64encode(PNG).decode()}
    with db.transaction() as session:
        enqueue(session, "slack.message", message(image=image))

    drain(app, db)

    assert len(slack.calls) == 0
    recorded = rows(db, "slack.message")[0].dry_run_request
    assert [r["url"] for r in recorded] == [
        SLACK + "chat.postMessage", SLACK + "files.getUploadURLExternal",
        "(upload_url from files.getUploadURLExternal)", SLACK + "files.completeUploadExternal"]
    assert recorded[0]["json"]["channel"] == "#budget" and recorded[1]["json"]["length"] == len(PNG)
    assert TOKEN not in json.dumps(recorded)
    with db.session_factory() as session:
        assert session.scalars(select(SlackMessage)).all() == []


def test_no_channel_anywhere_is_a_permanent_error(app):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"slack_channel": None})

    with pytest.raises(PermanentError, match="BUDGETBOT_SLACK_CHANNEL"):
        send(app, message())


def test_a_200_answer_that_is_not_json_is_retried_not_dead_and_retry_dead_does_not_post_again(app, db, slack, cli):
    from bot.outbox.worker import run_once

    slack.post(SLACK + "chat.postMessage", status=200, body="<html>upstream proxy hiccup</html>")
    slack.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C42", "ts": "1700.0001"})
    with db.transaction() as session:
        enqueue(session, "slack.message", message())

    run_once(db, app.config["SETTINGS"])

    (row,) = rows(db, "slack.message")
    assert row.state == "pending" and "not JSON" in row.last_error
    assert "refused" not in row.last_error
    assert "re-driven 0 dead row(s)" in cli("outbox", "retry", "--dead").output
    run_once(db, app.config["SETTINGS"], now=row.next_attempt_at)
    assert rows(db, "slack.message")[0].state == "done"
    assert run_once(db, app.config["SETTINGS"], now=row.next_attempt_at + timedelta(days=1)) == 0
    assert [c.request.url for c in slack.calls] == [SLACK + "chat.postMessage"] * 2


def test_a_token_echoed_in_a_body_slack_sdk_cannot_decode_is_not_logged_or_stored(app, db, slack, caplog):
    import logging

    from bot.outbox.worker import run_once

    slack.post(SLACK + "chat.postMessage", status=200, body=f"<html>bad token {TOKEN}</html>")
    with db.transaction() as session:
        enqueue(session, "slack.message", message())

    with caplog.at_level(logging.DEBUG):
        run_once(db, app.config["SETTINGS"])

    assert TOKEN not in caplog.text and "Failed to decode Slack API response" in caplog.text
    assert TOKEN not in (rows(db, "slack.message")[0].last_error or "")
