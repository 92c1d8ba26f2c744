"""The client against an older budgetbot, served on a real port: the app as it was before the guardrails (no
POST /api/v1/preflight, so its own JSON 404), recording usage as it always did."""

from __future__ import annotations

import logging

import pytest
from budgetbot_client import BudgetClient, BudgetExceeded
from client_support import LiveServer, ledger_rows

import bot.components
from bot.app import create_app
from bot.db import get_db


@pytest.fixture
def older(settings_overrides, monkeypatch, auth):
    """budgetbot without its guardrails component: what a server from before preflight answers."""
    monkeypatch.setattr(bot.components, "COMPONENTS", tuple(c for c in bot.components.COMPONENTS
                                                            if c != "bot.guardrails"))
    app = create_app(settings_overrides)
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
    get_db(app).dispose()


@pytest.fixture
def clients(older, auth, tmp_path):
    made: list[BudgetClient] = []

    def make(**options) -> BudgetClient:
        token = auth["Authorization"].removeprefix("Bearer ")
        made.append(BudgetClient(older.url, token, agent="coder", spool_path=tmp_path / f"spool{len(made)}.jsonl",
                                 **options))
        return made[-1]

    yield make
    for client in made:
        client.close(timeout=2)


def test_the_older_server_really_has_no_preflight(older, auth):
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{older.url}/api/v1/preflight", data=b"{}", method="POST",
                                     headers={**auth, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10)
    assert answer.value.code == 404 and json.loads(answer.value.read())["error"] == "not_found"


def test_preflight_on_an_older_server_allows_says_why_once_and_stops_asking(clients, older, db, caplog):
    budget = clients()
    caplog.set_level(logging.WARNING, logger="budgetbot_client")

    first = budget.preflight(story="PROJ-1", run_id="r1", estimated_tokens=500)
    second = budget.preflight(story="PROJ-1", run_id="r1")
    with budget.guard(story="PROJ-1", run_id="r1", model="gpt-4o") as call:  # the guard does not raise either
        call.record({"prompt_tokens": 120, "completion_tokens": 30})

    assert (first.decision, first.reached, [r.code for r in first.reasons]) == ("allow", False,
                                                                                ["preflight_unsupported"])
    assert "upgrade budgetbot" in first.reasons[0].message
    assert second.decision == "allow" and second.reasons == first.reasons
    assert older.requests.count("/api/v1/preflight") == 1  # asked once, not before every model call
    warnings = [r.getMessage() for r in caplog.records if "preflight" in r.getMessage()]
    assert len(warnings) == 1 and "upgrade budgetbot" in warnings[0]
    assert budget.flush(10)
    assert [(r.story_key, r.input_tokens) for r in ledger_rows(db)] == [("PROJ-1", 120)]  # recording still works


def test_fail_closed_blocks_on_an_older_server_saying_why(clients):
    budget = clients(fail_open=False)

    with pytest.raises(BudgetExceeded) as blocked, budget.guard(story="PROJ-1", run_id="r1"):
        pass

    assert [r.code for r in blocked.value.reasons] == ["preflight_unsupported"]
    assert "fail_open=False" in str(blocked.value)


def test_once_the_server_is_upgraded_preflight_is_asked_again(clients, older, app, monkeypatch):
    import budgetbot_client.client

    monkeypatch.setattr(budgetbot_client.client, "NO_PREFLIGHT_RECHECK_SECONDS", 0.0)  # instead of minutes
    budget = clients()
    assert budget.preflight(story="PROJ-1").reasons[0].code == "preflight_unsupported"
    older.stop()
    upgraded = LiveServer(app)  # today's budgetbot, on the same port
    upgraded.port = older.port
    upgraded.start()
    try:
        answer = budget.preflight(story="PROJ-1")
    finally:
        upgraded.stop()

    assert (answer.decision, answer.reached, answer.reasons) == ("allow", True, ())
