"""Token Spend out: coalesced per story, one PUT with the resolved field id, none when unchanged, 429 honoured."""

from __future__ import annotations

from datetime import UTC, datetime

import responses
from jira_support import JIRA, SPEND_ID, USD_ID, body, calls, drain, field_list, jira_http, settings_overrides, use
from sqlalchemy import select

from bot.integrations.jira.tables import JiraIssue
from bot.outbox import enqueue
from bot.outbox.tables import OutboxRow

ISSUE = f"{JIRA}/rest/api/3/issue/PROJ-1"


def rows(db) -> list[OutboxRow]:
    with db.session_factory() as session:
        return session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()


def test_a_thousand_usage_events_make_exactly_one_put(app, db, jira_http, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)  # ingesting 1,000 events on a loaded machine takes a while
    jira_http.put(ISSUE, status=204)
    use(app, "PROJ-1", tokens=7, n=1000)

    assert [(r.kind, r.coalesce_key) for r in rows(db)] == [("jira.spend", "jira-spend:PROJ-1")]
    assert drain(app) == 0  # held back for BUDGETBOT_JIRA_SPEND_INTERVAL (60 s)
    assert drain(app, after_seconds=61) == 1

    puts = calls(jira_http, "PUT")
    assert len(puts) == 1 and body(puts[0]) == {"fields": {SPEND_ID: 7000}}
    assert [c.request.method + " " + c.request.url for c in jira_http.calls] == [
        f"GET {JIRA}/rest/api/3/field", f"PUT {ISSUE}"]
    assert drain(app, after_seconds=3600) == 0 and len(jira_http.calls) == 2


def test_an_unchanged_value_is_not_written_again(app, db, jira_http):
    jira_http.put(ISSUE, status=204)
    use(app, "PROJ-1", tokens=100)
    drain(app, after_seconds=61)

    use(app, "PROJ-1", tokens=0, start=1, cost_usd="0.01")  # spend changed in USD only; no USD field set
    assert [r.state for r in rows(db)] == ["done"]
    with db.session_factory() as session:
        assert session.get(JiraIssue, "PROJ-1").spend_written_tokens == 100

    # A row queued when Jira already has the value (e.g. by a reconcile racing the write) sends nothing.
    with db.transaction() as session:
        enqueue(session, "jira.spend", {"key": "PROJ-1"})
    drain(app)
    assert len(calls(jira_http, "PUT")) == 1


def test_usd_spend_goes_to_the_usd_field_when_configured(app, db, jira_http):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"jira_spend_usd_field": "Token Spend USD"})
    jira_http.replace(responses.GET, f"{JIRA}/rest/api/3/field", json=field_list(usd=True))
    jira_http.put(ISSUE, status=204)
    use(app, "PROJ-1", tokens=1000, n=3, cost_usd="0.125")

    drain(app, after_seconds=61)

    assert body(calls(jira_http, "PUT")[0]) == {"fields": {SPEND_ID: 3000, USD_ID: 0.375}}


def test_429_is_retried_by_the_outbox_only_after_retry_after(app, db, jira_http):
    jira_http.put(ISSUE, status=429, headers={"Retry-After": "30", "RateLimit-Reason": "jira-per-issue-on-write"})
    jira_http.put(ISSUE, status=204)
    use(app, "PROJ-1", tokens=42)

    drain(app, after_seconds=61)
    (row,) = rows(db)
    assert row.state == "pending" and row.attempts == 1
    assert "429" in row.last_error and "jira-per-issue-on-write" in row.last_error and "30 s" in row.last_error
    assert len(calls(jira_http, "PUT")) == 1  # the jira library did not retry on its own

    drain(app, after_seconds=61 + 30 + 4)  # past Retry-After and the outbox's up-to-10% spread
    (row,) = rows(db)
    assert row.state == "done"
    puts = calls(jira_http, "PUT")
    assert len(puts) == 2 and all(body(c) == {"fields": {SPEND_ID: 42}} for c in puts)


def test_permanent_errors_say_what_to_fix(app, db, jira_http):
    jira_http.put(ISSUE, status=400, json={"errorMessages": [], "errors": {
        SPEND_ID: "Field 'customfield_10073' cannot be set. It is not on the appropriate screen, or unknown."}})
    use(app, "PROJ-1", tokens=5)

    drain(app, after_seconds=61)

    (row,) = rows(db)
    assert row.state == "dead" and "not on the appropriate screen" in row.last_error


def test_missing_spend_field_is_a_clear_error(app, db, jira_http):
    jira_http.replace(responses.GET, f"{JIRA}/rest/api/3/field", json=[
        f for f in field_list() if f["name"] != "Token Spend"])
    use(app, "PROJ-1", tokens=5)

    drain(app, after_seconds=61)

    (row,) = rows(db)
    assert row.state == "dead" and "Jira has no field named 'Token Spend'" in row.last_error
    assert "budgetbot jira setup" in row.last_error and calls(jira_http, "PUT") == []


def test_dry_run_records_the_exact_request(app, db, jira_http):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"dry_run": True})
    use(app, "PROJ-1", tokens=9)

    drain(app, after_seconds=61)

    (row,) = rows(db)
    assert row.dry_run_request == [{"method": "PUT", "url": ISSUE, "json": {"fields": {SPEND_ID: 9}}}]
    assert calls(jira_http, "PUT") == []  # only the (read-only) field list was fetched


def test_without_credentials_the_request_names_the_field(app, db, jira_http):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"jira_api_token": None})
    use(app, "PROJ-1", tokens=9)

    drain(app, after_seconds=61)

    (row,) = rows(db)
    assert row.dry_run_request == [{"method": "PUT", "url": ISSUE,
                                    "json": {"fields": {"<id of Token Spend>": 9}}}]
    assert len(jira_http.calls) == 0


def test_no_jira_url_means_nothing_is_queued(app, db):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"jira_url": None})
    use(app, "PROJ-1", tokens=9)

    assert rows(db) == []


def test_credentials_jira_echoes_back_are_not_stored(app, db, jira_http):
    import base64

    basic = base64.b64encode(b"budgetbot@example.com:api-t0ken").decode()
    jira_http.put(ISSUE, status=401, json={"errorMessages": [
        f"Authorization: Basic {basic} rejected for budgetbot@example.com:api-t0ken"]})
    use(app, "PROJ-1", tokens=5)

    drain(app, after_seconds=61)

    (row,) = rows(db)
    assert row.state == "dead" and "401" in row.last_error and "BUDGETBOT_JIRA_API_TOKEN" in row.last_error
    assert basic not in row.last_error and "api-t0ken" not in row.last_error
