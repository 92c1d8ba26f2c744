"""Helpers for the Jira tests: a Jira site built from the recorded field list, signed webhooks, usage ingest."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import responses
from conftest import load_fixture

from bot.app_pricer import get_pricer
from bot.db import get_db, utcnow
from bot.ledger.ingest import ingest
from bot.ledger.usage_shapes import UsageEventIn
from bot.outbox.worker import run_once

JIRA = "https://budgetbot-test.atlassian.net"
SECRET = "webhook-s3cret"
# The recorded issue_updated__custom_field payload changes customfield_10072 ("MJK - Number Field" at the time):
# on this test site that field is the Token Budget (renamed since), so matching must go by fieldId.
BUDGET_ID, SPEND_ID, USD_ID = "customfield_10072", "customfield_10073", "customfield_10074"


def _custom(field_id: str, name: str, kind: str) -> dict:
    custom = {"number": "com.atlassian.jira.plugin.system.customfieldtypes:float",
              "string": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}[kind]
    number = int(field_id.rsplit("_", 1)[1])
    return {"id": field_id, "key": field_id, "name": name, "untranslatedName": name, "custom": True,
            "orderable": True, "navigable": True, "searchable": True, "clauseNames": [f"cf[{number}]", name],
            "schema": {"type": kind, "custom": custom, "customId": number}}


def field_list(budget_kind: str = "number", usd: bool = False) -> list[dict]:
    """The recorded 81-field GET /field answer plus the fields `budgetbot jira setup` would create."""
    fields = load_fixture("jira/api__field_cloud.json")
    fields += [_custom(BUDGET_ID, "Token Budget", budget_kind), _custom(SPEND_ID, "Token Spend", "number")]
    if usd:
        fields.append(_custom(USD_ID, "Token Spend USD", "number"))
    return fields


def jira_settings(db_url: str, **extra) -> dict:
    return {"database_url": db_url, "jira_url": JIRA, "jira_email": "budgetbot@example.com",
            "jira_api_token": "api-t0ken", "jira_webhook_secret": SECRET, "public_url": "https://budgetbot.test",
            **extra}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(client, payload: dict, identifier: str | None = "wh-1", secret: str | None = SECRET,
                 signature: str | None = None):
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if identifier:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    if signature or secret:
        headers["X-Hub-Signature"] = signature or sign(body, secret)
    return client.post("/webhooks/jira", data=body, headers=headers)


def store_fields(app, fields: list[dict] | None = None) -> None:
    """As if budgetbot had already refreshed its copy of the site's field list (the `jira.fields` job)."""
    from bot.integrations.jira.field_copy import store_field_list

    with get_db(app).transaction() as session:
        store_field_list(session, app.config["SETTINGS"], fields if fields is not None else field_list(), utcnow())


def fixture_copy(name: str) -> dict:
    return copy.deepcopy(load_fixture(f"jira/{name}"))


def mock_fields(rsps: responses.RequestsMock, **kwargs) -> None:
    rsps.get(f"{JIRA}/rest/api/3/field", json=field_list(**kwargs))


def use(app, key: str, tokens: int, n: int = 1, agent: str = "coder", model: str = "gpt-4o",
        start: int = 0, cost_usd: str | None = None) -> None:
    """`n` usage events of `tokens` input tokens each, every one its own transaction (as the API does)."""
    settings = app.config["SETTINGS"]
    with app.app_context():
        for i in range(start, start + n):
            event = UsageEventIn(event_id=f"{key}-{agent}-{i}", story=key, model=model, agent=agent,
                                 input_tokens=tokens, output_tokens=0, cost_usd=cost_usd)
            with get_db(app).transaction() as session:
                ingest(session, [event], get_pricer(), settings.warn_threshold)


def drain(app, after_seconds: float = 0) -> int:
    """Run the outbox worker once, `after_seconds` from now."""
    with app.app_context():
        return run_once(get_db(app), app.config["SETTINGS"], now=utcnow() + timedelta(seconds=after_seconds))


def calls(rsps: responses.RequestsMock, method: str | None = None, path: str | None = None) -> list:
    return [c for c in rsps.calls if (method is None or c.request.method == method)
            and (path is None or c.request.url.split("?")[0] == JIRA + path)]


def body(call) -> object:
    return json.loads(call.request.body)


# Fixtures shared by the Jira tests (imported by name; a module may override either).
@pytest.fixture
def settings_overrides(db_url):
    return jira_settings(db_url)


@pytest.fixture
def jira_http():
    """A Jira site that knows the recorded field list; tests add the answers they need."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_fields(rsps)
        yield rsps


@pytest.fixture
def stored_field_list(app):
    """budgetbot's copy of the site's field list, as the `jira.fields` job leaves it: webhooks read it."""
    store_fields(app)
