"""A server with smaller limits than the client's batches: the client splits them, and loses nothing."""

from __future__ import annotations

import client_support
import pytest
from budgetbot_client.batch import triage
from budgetbot_client.transport import Reply
from client_support import ledger_count, ledger_rows

live, make_client, token = client_support.live, client_support.make_client, client_support.token  # fixtures


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "max_batch_events": 10, "max_body_bytes": 8192}


def test_batches_over_the_servers_limits_are_split_until_they_fit(make_client, db):
    budget = make_client()
    for i in range(150):
        budget.record({"prompt_tokens": 3, "completion_tokens": 1}, story="PROJ-1", model="gpt-4o",
                      event_id=f"e{i}", attributes={"padding": "x" * 200})
    assert budget.flush(30)
    assert ledger_count(db) == 150


def test_a_field_the_server_does_not_know_is_dropped_not_the_event(make_client, db):
    budget = make_client()
    budget.record({"prompt_tokens": 3, "completion_tokens": 1}, story="PROJ-2", model="gpt-4o", event_id="r",
                  reservation_id="res-1")
    assert budget.flush(10)
    assert [r.event_id for r in ledger_rows(db)] == ["r"]


def test_triage_names_the_bad_events_or_asks_for_a_split():
    events = [{"event_id": "a"}, {"event_id": "b", "reservation_id": "x"}, {"event_id": "c"}]
    named = Reply(400, {"errors": [{"path": "events[0].story", "message": "bad key"},
                                   {"path": "events[1].reservation_id", "message": "Extra inputs"}]}, None)
    assert triage(events, named) == [{"event_id": "b"}, {"event_id": "c"}]
    assert triage(events, Reply(413, {"error": "body_too_large"}, None)) is None
    assert triage(events[:1], Reply(400, None, None)) == []
