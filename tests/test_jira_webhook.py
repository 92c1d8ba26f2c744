"""POST /webhooks/jira with the recorded payloads: signature, dedupe, budget changes, story details, no loops."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from jira_support import (
    BUDGET_ID,
    JIRA,
    SPEND_ID,
    calls,
    fixture_copy,
    jira_http,
    post_webhook,
    settings_overrides,
    stored_field_list,
    use,
)
from sqlalchemy import func, select

from bot.integrations.deliveries import Delivery
from bot.integrations.jira.tables import JiraIssue
from bot.ledger.tables import Story, UsageEvent
from bot.outbox.tables import OutboxRow

# The webhook reads the field list budgetbot stored; it never asks Jira (tests/test_jira_hostile.py).
pytestmark = pytest.mark.usefixtures("stored_field_list")


def story(db, key="TES-14") -> Story | None:
    with db.session_factory() as session:
        return session.get(Story, key)


def budget_payload(to_string: str | None = "12", from_string: str | None = "1") -> dict:
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["changelog"]["items"][0].update(fromString=from_string, toString=to_string)
    return payload


def test_budget_change_matched_by_field_id_sets_the_budget_and_story_details(client, db, jira_http):
    response = post_webhook(client, fixture_copy("jira__issue_updated__custom_field.json"))

    assert response.status_code == 200 and response.json["result"] == "budget_changed"
    saved = story(db)
    assert (saved.budget_tokens, saved.budget_nano_usd) == (12, None)
    assert (saved.summary, saved.assignee, saved.jira_status) == ("v", "Sample User", "To Do")
    with db.session_factory() as session:
        assert session.get(JiraIssue, "TES-14").assignee_id == "5cedcb4355a88a0fc86388ba"
    # The field list comes from budgetbot's stored copy: no webhook asks Jira for it.
    post_webhook(client, budget_payload("20k"), identifier="wh-2")
    assert story(db).budget_tokens == 20_000
    assert len(jira_http.calls) == 0


def test_text_budget_with_dollars_is_parsed_like_the_api(client, db, jira_http):
    post_webhook(client, budget_payload("200k / $5"))

    saved = story(db)
    assert (saved.budget_tokens, saved.budget_nano_usd) == (200_000, 5_000_000_000)


def test_bad_or_missing_signature_is_401_and_changes_nothing(client, db, jira_http):
    payload = fixture_copy("jira__issue_updated__custom_field.json")

    wrong = post_webhook(client, payload, secret="not-the-secret")
    missing = post_webhook(client, payload, secret=None)

    assert (wrong.status_code, wrong.json["error"]) == (401, "bad_signature")
    assert missing.status_code == 401
    assert story(db) is None and len(jira_http.calls) == 0


def test_without_a_secret_nothing_is_accepted_outside_dry_run(app, client, db):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"jira_webhook_secret": None})
    payload = fixture_copy("jira__issue_updated__custom_field.json")

    refused = post_webhook(client, payload, secret=None)
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"dry_run": True, "jira_url": None})
    accepted = post_webhook(client, payload, secret=None)

    assert (refused.status_code, refused.json["error"]) == (401, "webhook_secret_not_set")
    # Dry-run without a field list: the changelog item is matched by the configured name only, and
    # "MJK - Number Field" is not "Token Budget", so details are kept but no budget is set.
    assert accepted.status_code == 200 and story(db).summary == "v" and story(db).budget_tokens is None


def test_replayed_identifier_is_processed_once(client, db, jira_http):
    first = post_webhook(client, budget_payload("12"), identifier="replayed")
    post_webhook(client, budget_payload("99"), identifier="other")
    again = post_webhook(client, budget_payload("12"), identifier="replayed")

    assert first.json["result"] == "budget_changed" and again.json["result"] == "duplicate"
    assert story(db).budget_tokens == 99  # the replay did not roll the budget back
    with db.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2


def test_unknown_event_is_202_and_logged(client, db, jira_http, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.integrations.jira.webhook"):
        response = post_webhook(client, fixture_copy("jira__issue_unknown__v2.json"))

    assert (response.status_code, response.json["result"]) == (202, "unknown_event")
    assert "jira:issue_unknown" in caplog.text and story(db, "BUG-15") is None


def test_ignored_and_eventless_payloads(client, db, jira_http):
    ignored = post_webhook(client, fixture_copy("jira__comment_created__plain.json"))
    eventless = post_webhook(client, fixture_copy("jira__no_event__anomalous_payload.json"))

    assert (ignored.status_code, ignored.json["result"]) == (200, "ignored")
    assert eventless.status_code == 400 and eventless.json["errors"][0]["path"] == "webhookEvent"
    assert len(jira_http.calls) == 0


def test_garbage_budget_keeps_the_old_budget_and_logs_a_warning(client, db, jira_http, caplog):
    post_webhook(client, budget_payload("50k"), identifier="a")
    with caplog.at_level(logging.WARNING, logger="bot.integrations.jira.issues"):
        response = post_webhook(client, budget_payload("lots and lots"), identifier="b")

    assert response.status_code == 200 and story(db).budget_tokens == 50_000
    assert "TES-14: ignoring Token Budget value 'lots and lots'" in caplog.text


def test_cleared_budget_field_removes_the_budget(client, db, jira_http):
    post_webhook(client, budget_payload("50k"), identifier="a")
    post_webhook(client, budget_payload(None), identifier="b")

    assert story(db).budget_tokens is None


def test_payload_without_field_id_is_matched_by_name_through_the_field_list(client, db, jira_http):
    by_name = budget_payload("7k")
    item = by_name["changelog"]["items"][0]
    del item["fieldId"]
    item["field"] = "Token Budget"
    other_field = budget_payload("9k")  # same name, another field's id: two fields can share a name
    other_field["changelog"]["items"][0].update(field="Token Budget", fieldId="customfield_10999")

    post_webhook(client, by_name, identifier="a")
    post_webhook(client, other_field, identifier="b")

    assert story(db).budget_tokens == 7_000


def test_done_status_records_resolution_and_delete_keeps_the_ledger(app, client, db, jira_http):
    resolved = post_webhook(client, fixture_copy("jira__issue_updated__resolved.json"), identifier="a")
    assert resolved.status_code == 200
    saved = story(db, "TES-41")
    assert saved.jira_status == "Done"
    assert saved.resolved_at == datetime(2019, 2, 16, 3, 15, 40, 470000, tzinfo=UTC)

    use(app, "BUG-15", tokens=100)
    deleted = post_webhook(client, fixture_copy("jira__issue_deleted__basic.json"), identifier="b")

    assert deleted.json["result"] == "deleted" and story(db, "BUG-15").deleted is True
    with db.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 1
        assert session.get(Story, "BUG-15").spent_tokens == 100


def test_assignment_keeps_name_and_account_for_mentions(client, db, jira_http):
    post_webhook(client, fixture_copy("jira__issue_updated__assigned.json"))

    assert story(db, "TES-41").assignee == "Test User"
    with db.session_factory() as session:
        assert session.get(JiraIssue, "TES-41").assignee_id == "5c5f880629be9642ba529340"


def test_our_own_token_spend_edit_coming_back_does_not_loop(app, client, db, jira_http):
    use(app, "TES-14", tokens=500)
    with db.transaction() as session:  # as if the jira.spend row had been sent
        session.query(OutboxRow).delete()
    echo = budget_payload()
    echo["changelog"]["items"][0].update(field="Token Spend", fieldId=SPEND_ID, fromString=None,
                                         toString="500")
    echo["issue"]["fields"][SPEND_ID] = 500

    response = post_webhook(client, echo)

    assert response.json["result"] == "updated"
    with db.session_factory() as session:
        assert session.scalars(select(OutboxRow)).all() == []
    assert story(db).budget_tokens is None


def test_issues_of_other_projects_are_ignored(app, client, db, jira_http):
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update={"jira_projects": ["PROJ"]})

    response = post_webhook(client, fixture_copy("jira__issue_updated__custom_field.json"))

    assert response.json["result"] == "ignored" and story(db) is None


def test_issue_created_with_budget_in_fields_reads_the_value(client, db, jira_http):
    payload = fixture_copy("jira__issue_created__with_custom_fields.json")
    payload["issue"]["fields"][BUDGET_ID] = 300000  # a number field's value is a JSON number

    response = post_webhook(client, payload)

    assert response.json["result"] == "budget_changed" and story(db, "KAN-3").budget_tokens == 300_000
    assert calls(jira_http) == []  # the budget field's id came from the stored field list


def test_an_issue_without_a_valid_key_is_400_naming_the_field(client, db, jira_http):
    payload = fixture_copy("jira__issue_updated__custom_field.json")
    payload["issue"]["key"] = "not a key" * 20

    response = post_webhook(client, payload)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "issue.key"
