"""POST /api/v1/usage: auth, the three provider usage shapes, idempotency, and whole-batch rejection."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.ledger.tables import Story, StoryDay, UsageEvent


def event(event_id="e1", **fields) -> dict:
    body = {"event_id": event_id, "story": "PROJ-1", "model": "gpt-4o", "input_tokens": 1000,
            "output_tokens": 100}
    body.update(fields)
    return body


def post(client, auth, body):
    return client.post("/api/v1/usage", json=body, headers=auth)


def count_events(db) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(UsageEvent))


def test_single_event_is_priced_and_counted_on_the_story(client, auth, db):
    response = post(client, auth, event(story="proj-1", agent="coder", run_id="r1"))

    assert response.status_code == 200
    body = response.json
    # gpt-4o: $2.50 / MTok input, $10 / MTok output -> 1000 * 2.5e-6 + 100 * 1e-5
    assert body["events"] == [{"event_id": "e1", "result": "accepted", "story": "PROJ-1", "priced": True,
                               "cost_usd": "0.0035"}]
    assert body["stories"]["PROJ-1"]["spent"] == {"tokens": 1100, "usd": "0.0035"}
    assert body["stories"]["PROJ-1"]["status"] == "no_budget"


def test_openai_chat_usage_object_as_the_sdk_dumps_it(client, auth, db):
    usage = {"prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300,
             "prompt_tokens_details": {"cached_tokens": 1500, "audio_tokens": 0, "cache_write_tokens": None},
             "completion_tokens_details": {"reasoning_tokens": 200, "audio_tokens": 0,
                                           "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    body = {"event_id": "c1", "story": "PROJ-1", "model": "gpt-4o", "provider": "openai", "usage": usage}

    response = post(client, auth, body)

    assert response.status_code == 200
    with db.session_factory() as session:
        row = session.scalar(select(UsageEvent))
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.reasoning_tokens) == (2000, 300, 1500, 200)
    # 500 uncached * 2.5 + 1500 cached * 1.25 + 300 * 10, per million
    assert Decimal(response.json["events"][0]["cost_usd"]) == Decimal("0.006125")


def test_openai_responses_usage_object(client, auth, db):
    usage = {"input_tokens": 1000, "output_tokens": 50, "total_tokens": 1050,
             "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": None},
             "output_tokens_details": {"reasoning_tokens": 20}}

    response = post(client, auth, {"event_id": "r1", "story": "PROJ-1", "model": "gpt-4o", "usage": usage})

    assert response.status_code == 200
    assert response.json["stories"]["PROJ-1"]["spent"]["tokens"] == 1050
    with db.session_factory() as session:
        row = session.scalar(select(UsageEvent))
    assert (row.cache_read_tokens, row.reasoning_tokens) == (400, 20)


def test_anthropic_input_tokens_exclude_cache_so_cache_is_added(client, auth, db):
    usage = {"input_tokens": 100, "output_tokens": 50, "cache_creation_input_tokens": 1000,
             "cache_read_input_tokens": 5000, "service_tier": "standard", "server_tool_use": None,
             "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 0},
             "inference_geo": None, "speed": None}

    response = post(client, auth, {"event_id": "a1", "story": "PROJ-1", "model": "claude-sonnet-4-5",
                                   "usage": usage})

    assert response.status_code == 200
    assert response.json["stories"]["PROJ-1"]["spent"]["tokens"] == 100 + 1000 + 5000 + 50
    # $3 input, $3.75 5-minute cache write, $0.30 cache read, $15 output, per million
    expected = (100 * Decimal(3) + 1000 * Decimal("3.75") + 5000 * Decimal("0.3") + 50 * Decimal(15)) / 10**6
    assert Decimal(response.json["events"][0]["cost_usd"]) == expected


def test_anthropic_one_hour_cache_writes_cost_twice_base_input(client, auth):
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1000,
             "cache_read_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000}}

    response = post(client, auth, {"event_id": "a1", "model": "claude-sonnet-4-5", "usage": usage})

    assert Decimal(response.json["events"][0]["cost_usd"]) == Decimal(1000 * 6) / 10**6


def test_anthropic_batch_tier_is_half_price(client, auth):
    usage = {"input_tokens": 1000, "output_tokens": 1000, "service_tier": "batch",
             "cache_read_input_tokens": 0}

    response = post(client, auth, {"event_id": "b1", "model": "claude-sonnet-4-5", "usage": usage})

    assert Decimal(response.json["events"][0]["cost_usd"]) == (1000 * Decimal(3) + 1000 * Decimal(15)) / 2 / 10**6


def test_client_price_is_kept_and_marked(client, auth, db):
    response = post(client, auth, event(cost_usd="0.5"))

    assert response.json["events"][0]["cost_usd"] == "0.5"
    with db.session_factory() as session:
        assert session.scalar(select(UsageEvent.price_source)) == "client"


def test_unknown_model_is_unpriced_never_zero_dollars(client, auth, db):
    response = post(client, auth, event(model="acme-secret-llm-9000"))

    assert response.json["events"][0]["priced"] is False
    story = response.json["stories"]["PROJ-1"]
    assert story["unpriced_events"] == 1
    assert story["spent"]["tokens"] == 1100


def test_same_event_twice_counts_once(client, auth, db):
    first = post(client, auth, event())
    again = post(client, auth, event())

    assert first.json["accepted"] == 1
    assert again.json["duplicates"] == 1 and again.json["events"][0]["result"] == "duplicate"
    assert again.json["stories"]["PROJ-1"]["spent"]["tokens"] == 1100
    assert count_events(db) == 1


def test_retry_without_occurred_at_is_still_a_duplicate(client, auth):
    post(client, auth, event())
    again = post(client, auth, event())  # the server-side default time differs, the content does not

    assert again.status_code == 200 and again.json["duplicates"] == 1


def test_same_event_id_with_other_content_is_409_and_stores_nothing(client, auth, db):
    post(client, auth, event())

    response = post(client, auth, {"events": [event("new-1"), event("e1", input_tokens=999)]})

    assert response.status_code == 409
    assert response.json["errors"][0]["path"] == "events[1].event_id"
    assert count_events(db) == 1


def test_repeat_inside_one_batch_counts_once(client, auth):
    response = post(client, auth, {"events": [event("x"), event("x")]})

    assert [e["result"] for e in response.json["events"]] == ["accepted", "duplicate"]
    assert response.json["stories"]["PROJ-1"]["spent"]["tokens"] == 1100


def test_one_invalid_event_rejects_the_whole_batch_naming_the_path(client, auth, db):
    batch = {"events": [event("ok-1"), event("ok-2"), event("ok-3"),
                        {"event_id": "bad", "model": "gpt-4o", "usage": {"prompt_tokens": -5,
                                                                          "completion_tokens": 1}}]}

    response = post(client, auth, batch)

    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == "events[3].usage.prompt_tokens"
    assert count_events(db) == 0


@pytest.mark.parametrize("fields, path", [
    ({"inptu_tokens": 5}, "inptu_tokens"),
    ({"story": "not a key"}, "story"),
    ({"occurred_at": "2026-11-02T10:00:00"}, "occurred_at"),
    ({"outcome": "maybe"}, "outcome"),
    ({"attributes": {"team": "x" * 300}}, "attributes"),
    ({"cache_read_tokens": 5000}, "body"),
])
def test_invalid_fields_are_named(client, auth, fields, path):
    response = post(client, auth, event(**fields))

    assert response.status_code == 400
    assert path in [e["path"] for e in response.json["errors"]]


def test_token_counts_must_be_given_one_way(client, auth):
    both = event(usage={"prompt_tokens": 1, "completion_tokens": 1})
    neither = {"event_id": "n", "model": "gpt-4o"}

    assert post(client, auth, both).status_code == 400
    assert post(client, auth, neither).status_code == 400


def test_batch_over_the_limit_is_rejected(client, auth):
    response = post(client, auth, {"events": [event(f"e{i}") for i in range(1001)]})

    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == "events"


def test_malformed_json_wrong_type_and_huge_bodies_get_json_errors(client, auth):
    malformed = client.post("/api/v1/usage", data="{nope", headers={**auth, "Content-Type": "application/json"})
    wrong_type = client.post("/api/v1/usage", data="event_id=1", headers={**auth, "Content-Type": "text/plain"})
    huge = client.post("/api/v1/usage", data=b" " * (1024 * 1024 + 1),
                       headers={**auth, "Content-Type": "application/json"})

    assert (malformed.status_code, malformed.json["error"]) == (400, "malformed_json")
    assert (wrong_type.status_code, wrong_type.json["error"]) == (400, "bad_content_type")
    assert huge.status_code == 413 and "1 MiB" in huge.json["message"]


def test_missing_invalid_and_revoked_tokens_are_401(client, auth, cli):
    assert client.post("/api/v1/usage", json=event()).status_code == 401
    assert post(client, {"Authorization": "Bearer bb_wrong"}, event()).status_code == 401

    cli("token", "revoke", "test-agent")

    response = post(client, auth, event())
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_daily_rollup_splits_by_utc_day(client, auth, db):
    post(client, auth, {"events": [event("d1", occurred_at="2026-11-02T23:30:00-01:00"),  # 3 Nov UTC
                                   event("d2", occurred_at="2026-11-03T10:00:00Z"),
                                   event("d3", occurred_at="2026-11-04T00:00:01+00:00")]})

    with db.session_factory() as session:
        days = {str(d.day): (d.tokens, d.events) for d in session.scalars(select(StoryDay))}
    assert days == {"2026-11-03": (2200, 2), "2026-11-04": (1100, 1)}


def test_events_without_a_story_are_kept_in_the_ledger(client, auth, db):
    response = post(client, auth, event(story=None))

    assert response.json["accepted"] == 1 and response.json["stories"] == {}
    with db.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Story)) == 0
    assert count_events(db) == 1


def test_openapi_document_is_generated_from_the_models(client):
    document = client.get("/api/v1/openapi.json").json

    assert "/api/v1/usage" in document["paths"]
    assert "event_id" in document["components"]["schemas"]["UsageEventIn"]["required"]


def test_retry_with_attributes_in_another_order_is_a_duplicate(client, auth):
    post(client, auth, event(attributes={"team": "core", "cost_center": "cc-1"}))

    again = post(client, auth, event(attributes={"cost_center": "cc-1", "team": "core"}))

    assert again.status_code == 200 and again.json["duplicates"] == 1
