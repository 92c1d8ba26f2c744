"""Back off only what is limited, with the real senders and the outbox worker: a Jira burst limit holds that
endpoint, a Jira quota or a GitHub rate limit the whole integration, a Slack 429 Slack; the rest keeps flowing,
and the hold survives from one worker run to the next."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import responses
from github_support import FakeGitHub, deliver, github_settings, pr_event, url
from jira_support import JIRA, SPEND_ID, field_list, jira_settings, use
from outbox_helpers import HOOK, add, test_senders
from scrum_support import SLACK, urllib_through_requests
from sqlalchemy import select

from bot.db import get_db, utcnow
from bot.integrations.github import client as github_client
from bot.outbox import enqueue
from bot.outbox.tables import OutboxRow
from bot.outbox.worker import run_once


def outbox(db) -> dict[str, tuple[str, int]]:
    """coalesce key (or kind) -> (state, attempts)."""
    with db.session_factory() as session:
        return {r.coalesce_key or f"{r.kind}:{r.id}": (r.state, r.attempts)
                for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))}


def at(app, seconds: float) -> int:
    return run_once(get_db(app), app.config["SETTINGS"], now=utcnow() + timedelta(seconds=seconds))


class TestJira:
    @pytest.fixture
    def settings_overrides(self, db_url):
        return jira_settings(db_url)

    @pytest.fixture
    def jira(self):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.get(f"{JIRA}/rest/api/3/field", json=field_list())
            rsps.get(f"{JIRA}/rest/api/3/issue/PROJ-9/comment", json={"comments": []})
            rsps.post(f"{JIRA}/rest/api/3/issue/PROJ-9/comment", status=201, json={"id": "100"})
            rsps.post(HOOK.replace("notify", "other"), status=200)
            yield rsps

    def puts(self, jira) -> list[str]:
        return [c.request.url.rsplit("/", 1)[1] for c in jira.calls if c.request.method == "PUT"]

    def queue(self, app, db) -> None:
        for key in ("PROJ-1", "PROJ-2", "PROJ-3"):
            use(app, key, tokens=10)  # three Token Spend rows, due in 60 s
        with db.transaction() as session:
            enqueue(session, "jira.comment", {"key": "PROJ-9", "marker": "m", "doc": [
                {"type": "paragraph", "text": "hello"}]}, coalesce_key="jira-comment:PROJ-9:m",
                now=utcnow() + timedelta(seconds=60))
            enqueue(session, "test.other", {"n": 1}, now=utcnow() + timedelta(seconds=60))

    def test_a_burst_limit_holds_the_endpoint_and_nothing_else(self, app, db, jira):
        jira.put(f"{JIRA}/rest/api/3/issue/PROJ-1", status=429,
                 headers={"Retry-After": "30", "RateLimit-Reason": "jira-burst-based"})
        for key in ("PROJ-1", "PROJ-2", "PROJ-3"):
            jira.put(f"{JIRA}/rest/api/3/issue/{key}", status=204)
        self.queue(app, db)

        at(app, 61)

        assert self.puts(jira) == ["PROJ-1"]  # PROJ-2 and PROJ-3 did not walk into the same limit
        state = outbox(db)
        assert state["jira-spend:PROJ-1"] == ("pending", 1)
        assert state["jira-spend:PROJ-2"] == state["jira-spend:PROJ-3"] == ("pending", 0)
        assert state["jira-comment:PROJ-9:m"] == ("done", 1)  # another endpoint of Jira keeps flowing
        assert at(app, 61 + 20) == 0 and self.puts(jira) == ["PROJ-1"]  # a new worker run still holds them

        assert at(app, 61 + 30 + 4) == 3
        assert self.puts(jira) == ["PROJ-1", "PROJ-1", "PROJ-2", "PROJ-3"]

    def test_a_quota_limit_holds_all_of_jira_and_only_jira(self, app, db, jira):
        jira.put(f"{JIRA}/rest/api/3/issue/PROJ-1", status=429,
                 headers={"Retry-After": "120", "RateLimit-Reason": "jira-quota-global-based"})
        for key in ("PROJ-1", "PROJ-2", "PROJ-3"):
            jira.put(f"{JIRA}/rest/api/3/issue/{key}", status=204)
        self.queue(app, db)

        at(app, 61)

        state = outbox(db)
        assert self.puts(jira) == ["PROJ-1"]
        assert state["jira-comment:PROJ-9:m"] == ("pending", 0)  # all of Jira waits
        assert [v for k, v in state.items() if k.startswith("test.other")] == [("done", 1)]  # not Slack & co.
        assert at(app, 61 + 100) == 0
        assert at(app, 61 + 120 + 13) == 4 and self.puts(jira) == ["PROJ-1", "PROJ-1", "PROJ-2", "PROJ-3"]


class LimitedGitHub(FakeGitHub):
    """FakeGitHub whose first check-run POSTs get the canned answers in `limited`, the rest succeed."""

    def __init__(self, rsps) -> None:
        self.limited: list[tuple[int, dict, str]] = []
        super().__init__(rsps)

    def _created(self, request):
        return self.limited.pop(0) if self.limited else super()._created(request)


class TestGitHub:
    @pytest.fixture
    def settings_overrides(self, db_url):
        return github_settings(db_url)

    @pytest.fixture
    def gh(self):
        github_client.forget_clients()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            yield LimitedGitHub(rsps)
        github_client.forget_clients()

    def posts(self, gh) -> list[str]:
        return [json.loads(c.request.body)["head_sha"][0] for c in gh.rsps.calls
                if c.request.method == "POST" and c.request.url.endswith("/check-runs")]

    def two_prs(self, client) -> None:
        deliver(client, "pull_request", pr_event("opened", title="PROJ-1: a", number=1, sha="a" * 40))
        deliver(client, "pull_request", pr_event("opened", title="PROJ-2: b", number=2, sha="b" * 40))

    def test_the_primary_rate_limit_holds_every_check_until_the_reset_and_a_label_does_not_undo_it(
            self, client, app, db, gh):
        reset = int(time.time()) + 1800
        gh.limited.append((403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                           json.dumps({"message": "API rate limit exceeded for installation ID 1."})))
        self.two_prs(client)

        at(app, 0)

        assert self.posts(gh) == ["a"]  # the second check never ran into the limit
        assert outbox(db)[f"github-check:186853002:{'b' * 40}"] == ("pending", 0)
        deliver(client, "pull_request", pr_event("labeled", title="PROJ-1: a", number=1, sha="a" * 40,
                                                 labels=["needs-review"], label="needs-review"))
        deliver(client, "pull_request", pr_event("synchronize", title="PROJ-1: a", number=1, sha="c" * 40))
        assert at(app, 60) == 0 and at(app, 1700) == 0  # neither a label nor a push ignores GitHub's reset
        assert self.posts(gh) == ["a"]

        assert at(app, 1800 + 200) == 3
        assert sorted(self.posts(gh)) == ["a", "a", "b", "c"]

    def test_a_secondary_rate_limit_with_retry_after_holds_every_check(self, client, app, db, gh):
        gh.limited.append((403, {"Retry-After": "60"}, json.dumps(
            {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."})))
        self.two_prs(client)

        at(app, 0)
        assert self.posts(gh) == ["a"] and at(app, 30) == 0

        assert at(app, 60 + 7) == 2 and sorted(self.posts(gh)) == ["a", "a", "b"]


class TestSlack:
    @pytest.fixture
    def settings_overrides(self, db_url):
        return {"database_url": db_url, "slack_token": "xoxb-test-token", "slack_channel": "#budget",
                "slack_api_url": SLACK}

    def test_a_429_holds_every_slack_message_until_retry_after(self, app, db, monkeypatch):
        urllib_through_requests(monkeypatch)
        with responses.RequestsMock() as slack:
            slack.post(SLACK + "chat.postMessage", status=429, headers={"Retry-After": "30"},
                       json={"ok": False, "error": "ratelimited"})
            slack.post(SLACK + "chat.postMessage", json={"ok": True, "channel": "C1", "ts": "1.1"})
            with db.transaction() as session:
                for n in range(3):
                    enqueue(session, "slack.message", {"text": f"m{n}", "update_key": f"u{n}"})
            add(db, kind="test.record", payload={"n": 1})

            at(app, 0)

            assert len(slack.calls) == 1
            assert [v for k, v in outbox(db).items() if k.startswith("slack")] == [
                ("pending", 1), ("pending", 0), ("pending", 0)]
            assert at(app, 20) == 0
            assert at(app, 30 + 4) == 3 and len(slack.calls) == 4
