"""Issue 12, done when: one story driven through the API reads the same on every surface a user sees —
the API answer, the PR check, the digest lines, the Jira burn-down comment and the retro scorecard."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from scrum_support import add_sprint, set_story

from bot.app_pricer import get_pricer
from bot.integrations.github.checks import story_figures
from bot.integrations.github.report import compose
from bot.reports.retro.period import date_range
from bot.reports.retro.report import build as build_retro
from bot.reports.scrum.digest import build as build_digest
from bot.reports.scrum.digest_data import load

NOW = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)  # Wednesday; the digest reports on Tuesday
TUESDAY = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def surfaces(app, db, key: str) -> dict:
    settings = app.config["SETTINGS"]
    with app.app_context(), db.session_factory() as session:
        check = compose(story_figures(session, settings, [key]), None, override_label="budget-override",
                        warn_threshold=settings.warn_threshold)
        digest = build_digest(load(session, settings, NOW))
        retro = build_retro(session, date_range("2026-11-02", "2026-11-05"), pricer=get_pricer(),
                            warn_threshold=settings.warn_threshold)
    lines = "\n".join(str(block) for block in digest.blocks)
    comment = dict(digest.comments)[key]
    scored = {s["key"]: s for s in retro["scorecard"]["stories"]}[key]
    return {"check": check, "digest": lines, "comment": comment, "retro": scored, "card": retro["scorecard"]}


def send(client, auth, key: str, n: int, **fields):
    body = {"event_id": f"{key}-{n}", "story": key, "agent": "coder", "occurred_at": TUESDAY.isoformat(),
            "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 0, **fields}
    answer = client.post("/api/v1/usage", json=body, headers=auth)
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.fixture
def sprint(db):
    add_sprint(db, "S1", datetime(2026, 11, 2, 8, 0, tzinfo=UTC), datetime(2026, 11, 16, 8, 0, tzinfo=UTC))


def test_unpriced_spend_reads_unpriced_everywhere(app, client, auth, db, sprint):
    set_story(db, "PROJ-7", sprint="S1")
    client.put("/api/v1/stories/PROJ-7/budget", json={"usd": "$0.01"}, headers=auth)
    with time_machine.travel(NOW):
        answer = send(client, auth, "PROJ-7", 1, model="acme-coder-70b", input_tokens=5_900_000)
    assert answer["events"][0]["cost_usd"] is None
    assert answer["stories"]["PROJ-7"]["status"] == "unpriced"
    seen = surfaces(app, db, "PROJ-7")
    assert seen["check"].conclusion == "neutral"
    assert "$0.00 + 1 unpriced / $0.01" in seen["check"].title
    assert "`acme-coder-70b`" in seen["check"].summary and "BUDGETBOT_PRICES_FILE" in seen["check"].summary
    assert "Dollars not measured (1)" in seen["digest"] and "$0.00 + 1 unpriced of $0.01" in seen["digest"]
    assert "Status: unpriced" in seen["comment"][1]["text"] and "+ 1 unpriced" in seen["comment"][1]["text"]
    assert seen["retro"]["status"] == "unpriced"
    assert seen["card"]["passed"] == 0 and seen["card"]["unmeasured"] == 1


def test_an_approved_overrun_reads_overridden_everywhere(app, client, auth, db, sprint, cli):
    set_story(db, "PROJ-8", sprint="S1")
    client.put("/api/v1/stories/PROJ-8/budget", json={"tokens": "1k"}, headers=auth)
    with time_machine.travel(NOW):
        send(client, auth, "PROJ-8", 1, input_tokens=5000, cost_usd="0.02")
    approved = client.post("/api/v1/stories/PROJ-8/approval", json={"by": "maria", "reason": "agreed"}, headers=auth)
    assert approved.json["status"] == "overridden"
    assert "PROJ-8  OVERRIDDEN" in cli("status", "PROJ-8").output
    seen = surfaces(app, db, "PROJ-8")
    assert seen["check"].conclusion == "success"
    assert "Overrun approved (1)" in seen["digest"] and "Over budget (" not in seen["digest"]
    assert "Status: overridden" in seen["comment"][1]["text"]
    assert seen["retro"]["status"] == "overridden" and seen["card"]["overridden"] == 1


def test_the_token_budget_that_warns_is_the_one_the_digest_names(app, client, auth, db, sprint):
    set_story(db, "PROJ-106", sprint="S1")
    client.put("/api/v1/stories/PROJ-106/budget", json={"tokens": "400k", "usd": "$4"}, headers=auth)
    with time_machine.travel(NOW):
        send(client, auth, "PROJ-106", 1, input_tokens=351_000, cost_usd="0.71")
    story = client.get("/api/v1/stories/PROJ-106", headers=auth).json
    assert (story["status"], story["percent"]["tokens"]) == ("warning", "87.8")
    seen = surfaces(app, db, "PROJ-106")
    assert seen["check"].conclusion == "success" and "351k / 400k tokens (88%)" in seen["check"].title
    assert "PROJ-106> — 351k of 400k tokens (88%)" in seen["digest"]
    assert "$0.71 of $4.00" not in seen["digest"]
    assert seen["retro"]["status"] == "warning"


def test_just_over_budget_never_reads_100_percent(app, client, auth, db, sprint):
    set_story(db, "PROJ-9", sprint="S1")
    client.put("/api/v1/stories/PROJ-9/budget", json={"tokens": "1000k"}, headers=auth)
    with time_machine.travel(NOW):
        send(client, auth, "PROJ-9", 1, input_tokens=1_000_400, cost_usd="1")
    story = client.get("/api/v1/stories/PROJ-9", headers=auth).json
    assert (story["status"], story["percent"]["tokens"]) == ("over", "100.1")
    seen = surfaces(app, db, "PROJ-9")
    assert "(>100%)" in seen["digest"] and "(100%)" not in seen["digest"]
    assert seen["check"].conclusion == "failure" and "(>100%)" in seen["check"].title
    assert seen["retro"]["percent"]["tokens"] == "100.1"
    assert Decimal(seen["retro"]["ratio"]) > 1
