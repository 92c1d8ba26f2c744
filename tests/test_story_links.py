"""Every story link budgetbot puts in Slack, Jira and the PR check opens that one story without an account (signed,
read-only, expiring), seen in the requests that leave for Slack and Jira; a tampered link does not. The same story
gets the same link for a while, so re-rendering a message, a comment or a check does not change its text."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import responses
import time_machine
from jira_support import JIRA, fixture_copy, jira_settings
from pydantic import SecretStr
from scrum_support import SLACK, add_sprint, drain, event, ingest_events, set_story, urllib_through_requests

from bot.integrations.github.checks import story_figures
from bot.integrations.github.report import compose
from bot.integrations.jira.escalation import over_budget_doc
from bot.ledger.tables import Story
from bot.reports.scrum.digest import run as run_digest
from bot.web.dashboard_keys import signed_story_url

USD = 10**9
PUBLIC = "https://budgetbot.test"
SPRINT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
DIGEST_AT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # the next Monday, 09:00 in Berlin
SLACK_LINK = re.compile(r"<(https://budgetbot\.test/stories/[^|>]+)\|([A-Z]+-\d+)>")
ADF_LINK = re.compile(r'"href": "(https://budgetbot\.test/stories/[^"]+)"')
DOC_LINK = re.compile(r'"url": "(https://budgetbot\.test/stories/[^"]+)"')


@pytest.fixture
def settings_overrides(db_url):
    return jira_settings(db_url, secret_key="test-secret-key-0123456789abcdef", public_url=PUBLIC,
                         timezone="Europe/Berlin", slack_token="xoxb-t", slack_channel="#budget",
                         slack_api_url=SLACK, anomaly_rules_off=["budget_share"], anomaly_run_usd=1)


def day(n: int, hour: int = 12) -> str:
    return (SPRINT_START.replace(hour=hour) + timedelta(days=n)).isoformat()


@pytest.fixture
def ledger(app, db):
    """Sprint 42: PROJ-1 on its way ($1 a day of $10), PROJ-2 over ($2.50 of $2); PROJ-5, outside the sprint, had
    a $9 run on Sunday night (an anomaly: a Slack alert and a note on the story)."""
    add_sprint(db, "Sprint 42", SPRINT_START, SPRINT_START + timedelta(days=14))
    set_story(db, "PROJ-1", sprint="Sprint 42", summary="Checkout", budget_nano_usd=10 * USD)
    set_story(db, "PROJ-2", sprint="Sprint 42", summary="Refunds", budget_nano_usd=2 * USD)
    set_story(db, "PROJ-5", budget_nano_usd=USD)
    events = [event(f"p1-{n}", day(n), cost="1.00", story="PROJ-1", agent="claude-code") for n in range(7)]
    events += [event("p2-a", day(1), cost="1.25", story="PROJ-2", agent="codex"),
               event("p2-b", day(5), cost="1.25", story="PROJ-2", agent="codex")]
    events += [event("p5", day(6, hour=19), cost="9.00", story="PROJ-5", agent="codex", run_id="run-9")]
    with time_machine.travel(day(6, hour=20), tick=False):
        ingest_events(app, db, events)


def digest(app, db, now: datetime):
    with time_machine.travel(now, tick=False), app.app_context(), db.transaction() as session:
        return run_digest(session, app.config["SETTINGS"])


def open_link(app, url: str):
    """The link followed by someone with no account: a fresh client, no session cookie."""
    assert url.startswith(PUBLIC + "/stories/"), url
    return app.test_client().get(url.removeprefix(PUBLIC), headers={"Accept": "text/html"})


def assert_each_opens_its_story(app, links: list[tuple[str, str]]) -> None:
    for url, key in links:
        page = open_link(app, url)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, (url, html[:300])
        assert f"<h1>{key}" in html and "read-only view" in html, url


def tampered(url: str) -> str:
    return url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")


@pytest.fixture
def slack(monkeypatch):
    urllib_through_requests(monkeypatch)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C42", "ts": "1773043200.000100"})
        mock.post(SLACK + "chat.update", json={"ok": True, "channel": "C42", "ts": "1773043200.000100"})
        mock.post(SLACK + "files.getUploadURLExternal", json={"ok": True, "upload_url": "https://files.slack.test/u1",
                                                              "file_id": "F1"})
        mock.post("https://files.slack.test/u1", body="OK")
        mock.post(SLACK + "files.completeUploadExternal", json={"ok": True, "files": [{"id": "F1"}]})
        yield mock


def slack_links(mock) -> dict[str, list[tuple[str, str]]]:
    """The story links in each message posted to Slack, by the message's fallback text."""
    posted = [json.loads(c.request.body) for c in mock.calls if c.request.url == SLACK + "chat.postMessage"]
    return {message["text"]: SLACK_LINK.findall(json.dumps(message["blocks"])) for message in posted}


# --- links in Slack and Jira open the story without a login --------------------------------------------------

def test_the_digest_and_the_alert_in_slack_link_to_pages_that_open_without_a_login(app, db, ledger, slack):
    with time_machine.travel(DIGEST_AT, tick=False):
        drain(app, db)  # Sunday night's alert
    digest(app, db, DIGEST_AT)
    with time_machine.travel(DIGEST_AT, tick=False):
        drain(app, db)

    messages = slack_links(slack)
    alert = next(links for text, links in messages.items() if "anomal" in text)
    sent = next(links for text, links in messages.items() if text.startswith("Token digest"))
    assert {key for _, key in alert} == {"PROJ-5"}
    assert {key for _, key in sent} == {"PROJ-1", "PROJ-2", "PROJ-5"}  # at risk, over, biggest spenders
    with time_machine.travel(DIGEST_AT + timedelta(hours=1), tick=False):
        assert_each_opens_its_story(app, alert + sent)
        url = dict((key, url) for url, key in sent)["PROJ-2"]
        assert open_link(app, tampered(url)).status_code == 403
        other = url.replace("/stories/PROJ-2?", "/stories/PROJ-1?")  # PROJ-2's token on another story
        assert open_link(app, other).status_code == 403
        assert app.test_client().get("/").status_code == 302  # the link opens the story, nothing else


def test_the_burn_down_and_anomaly_comments_sent_to_jira_link_to_pages_that_open_without_a_login(app, db, ledger):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as jira:
        for key in ("PROJ-1", "PROJ-2", "PROJ-5"):
            jira.get(f"{JIRA}/rest/api/3/issue/{key}/comment", json={"comments": []})
            jira.post(f"{JIRA}/rest/api/3/issue/{key}/comment", status=201, json=fixture_copy("api__comment_add.json"))
        digest(app, db, DIGEST_AT)
        with time_machine.travel(DIGEST_AT, tick=False):
            sent = drain(app, db, "jira.comment")
        posted = [(c.request.url, json.loads(c.request.body)) for c in jira.calls if c.request.method == "POST"]

    assert all(error is None for _, _, error in sent)
    markers = {(row.payload["key"], row.payload["marker"]) for row, _, _ in sent}
    assert {("PROJ-1", "burndown"), ("PROJ-2", "burndown"), ("PROJ-5", "anomaly")} <= markers
    links = []
    for url, body in posted:
        key = url.split("/issue/")[1].split("/")[0]
        found = ADF_LINK.findall(json.dumps(body))
        assert found, (url, body)  # every comment links to its story
        links += [(link, key) for link in found]
    with time_machine.travel(DIGEST_AT + timedelta(hours=1), tick=False):
        assert_each_opens_its_story(app, links)
        assert open_link(app, tampered(links[0][0])).status_code == 403


# --- one link per story for a while: re-rendering changes nothing ----------------------------------------------

def test_a_story_keeps_its_link_through_the_day_and_gets_a_new_one_the_next(app):
    settings = app.config["SETTINGS"]

    def link(when: str, key: str = "PROJ-1") -> str:
        with time_machine.travel(when, tick=False):
            return signed_story_url(settings, key)

    morning = link("2026-03-09 00:00:05Z")
    assert link("2026-03-09 13:37:00Z") == morning == link("2026-03-09 23:59:59Z")
    assert link("2026-03-10 00:00:05Z") != morning
    assert link("2026-03-09 13:37:00Z", "PROJ-2") != morning.replace("PROJ-1", "PROJ-2")  # its own token


def test_re_rendering_the_check_the_jira_comment_and_the_digest_later_that_day_changes_nothing(app, db, ledger):
    settings = app.config["SETTINGS"]

    def render(now: datetime):
        with time_machine.travel(now, tick=False), app.app_context(), db.session_factory() as session:
            check = compose(story_figures(session, settings, ["PROJ-1", "PROJ-2"]), None,
                            override_label=settings.github_override_label, warn_threshold=settings.warn_threshold)
            comment = over_budget_doc(session, settings, session.get_one(Story, "PROJ-2"), over=True)
        return check, comment

    check, comment = render(DIGEST_AT)
    assert "?t=" in check.details_url and "?t=" in json.dumps(comment)
    assert render(DIGEST_AT + timedelta(hours=3)) == (check, comment)  # a GitHub PATCH or a Jira edit would be a no-op
    first = digest(app, db, DIGEST_AT)
    again = digest(app, db, DIGEST_AT + timedelta(hours=3))  # `budgetbot digest --now` later on
    links = [SLACK_LINK.findall(json.dumps(d.blocks)) + DOC_LINK.findall(json.dumps(d.comments))
             for d in (first, again)]
    assert len(links[0]) > 5 and all("?t=" in str(link) for link in links[0])
    assert links[1] == links[0]  # the ideal line has moved on since; the links have not


def test_a_link_never_outlives_its_lifetime_and_lives_most_of_it(app, db, ledger):
    settings = app.config["SETTINGS"]  # BUDGETBOT_STORY_LINK_DAYS: 30
    late = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)  # made just before the link would change
    with time_machine.travel(late, tick=False):
        url = signed_story_url(settings, "PROJ-1")
    with time_machine.travel(late + timedelta(days=29), tick=False):
        assert open_link(app, url).status_code == 200  # at most a day less than the lifetime
    with time_machine.travel(late + timedelta(days=30), tick=False):
        page = open_link(app, url)
        assert page.status_code == 403 and "expired" in page.get_data(as_text=True)


def test_a_short_lifetime_is_honoured_too(app, db, ledger):
    settings = app.config["SETTINGS"].model_copy(update={"story_link_days": 0.5})
    app.config["SETTINGS"] = settings
    made = datetime(2026, 3, 9, 9, 17, tzinfo=UTC)
    with time_machine.travel(made, tick=False):
        url = signed_story_url(settings, "PROJ-1")
    with time_machine.travel(made + timedelta(hours=10), tick=False):
        assert open_link(app, url).status_code == 200
    with time_machine.travel(made + timedelta(hours=12, seconds=1), tick=False):
        assert open_link(app, url).status_code == 403


def test_rotating_the_link_key_still_revokes_the_links_of_the_day(app, db, ledger):
    now = datetime(2026, 3, 9, 10, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        old = signed_story_url(app.config["SETTINGS"], "PROJ-1")
        assert open_link(app, old).status_code == 200
        app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"link_secret_key": SecretStr("rotated")})
        fresh = signed_story_url(app.config["SETTINGS"], "PROJ-1")
        assert open_link(app, old).status_code == 403
        assert fresh != old and open_link(app, fresh).status_code == 200
