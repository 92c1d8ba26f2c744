"""The HTTP API under hostile input: NUL bytes and absurdly nested JSON are 400s naming the field, never 500s."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.ledger.tables import UsageEvent

EVENT = {"event_id": "e-1", "story": "PROJ-1", "model": "gpt-4o", "agent": "coder", "run_id": "run-1",
         "input_tokens": 10, "output_tokens": 1}


def stored(db) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(UsageEvent))


@pytest.mark.parametrize("field", ["event_id", "agent", "model", "run_id"])
def test_a_nul_byte_in_a_usage_field_is_400_naming_it(client, db, auth, field):
    response = client.post("/api/v1/usage", json={**EVENT, field: "bad\x00value"}, headers=auth)

    assert response.status_code == 400, response.json
    assert response.json["errors"][0]["path"] == field
    assert stored(db) == 0


def test_a_nul_byte_deep_in_a_batch_names_its_path(client, db, auth):
    events = [EVENT, {**EVENT, "event_id": "e-2", "attributes": {"team": "pay\x00ments"}}]

    response = client.post("/api/v1/usage", json={"events": events}, headers=auth)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "events[1].attributes.team"
    assert stored(db) == 0


def test_a_nul_byte_in_a_preflight_field_is_400(client, auth):
    response = client.post("/api/v1/preflight", json={"run_id": "r\x00", "agent": "coder"}, headers=auth)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "run_id"


@pytest.mark.parametrize("query", ["project=%00", "status=ok%00", "project=P%00ROJ"])
def test_a_nul_byte_in_a_query_parameter_is_400_naming_it(client, auth, query):
    response = client.get(f"/api/v1/stories?{query}", headers=auth)

    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == query.split("=")[0]


def test_a_nul_byte_in_the_story_key_of_the_path_is_400(client, auth):
    response = client.get("/api/v1/stories/PROJ-1%00", headers=auth)

    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/preflight", "/api/v1/stories/PROJ-1/budget"])
def test_json_nested_20000_deep_is_400(client, auth, path):
    body = "[" * 20_000 + "]" * 20_000
    method = client.put if path.endswith("/budget") else client.post

    response = method(path, data=body, headers={**auth, "Content-Type": "application/json"})

    assert response.status_code == 400 and response.json["error"] == "malformed_json"
    assert "nested" in response.json["message"]


def test_status_bogus_is_rejected(client, auth):
    response = client.get("/api/v1/stories?status=bogus", headers=auth)

    assert response.status_code == 400 and response.json["errors"][0]["path"] == "status"
