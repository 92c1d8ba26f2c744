"""Round trips to PostgreSQL per request, counted from the wire (libpq's protocol trace): an agent fleet sends a
request per model call, and on a real network every round trip is a wait."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import event

from bot.db import get_db

pytestmark = pytest.mark.skipif(not os.environ.get("BUDGETBOT_TEST_DATABASE_URL"),
                                reason="round trips are PostgreSQL's (SQLite is in-process)")


class Wire:
    """Every message the client sends on the app's connections, from libpq's trace of each connection."""

    def __init__(self, app, tmp_path) -> None:
        self.path = tmp_path / "libpq.trace"
        self.file = self.path.open("w")
        engine = get_db(app).engine
        engine.dispose()  # every connection from now on is traced from its first message

        @event.listens_for(engine, "connect")
        def trace(dbapi_connection, _record) -> None:
            dbapi_connection.pgconn.trace(self.file.fileno())

    def round_trips(self, send) -> list[str]:
        """What `send()` made the client wait for: each Sync (extended protocol) or simple Query, with the
        statement it carried."""
        self.file.flush()
        start = self.path.stat().st_size
        response = send()
        assert response.status_code == 200, response.json
        self.file.flush()
        with self.path.open() as trace:
            trace.seek(start)
            sent = [line.split("\t") for line in trace if "\tF\t" in line]
        trips, statement = [], ""
        for fields in sent:
            kind, body = fields[3].strip(), fields[-1].strip()
            if kind == "Parse":
                statement = body
            elif kind == "Sync":
                trips.append(statement or "(prepared)")
                statement = ""
            elif kind == "Query":
                trips.append(body)
        return trips


def usage(n: int) -> dict:
    return {"event_id": f"e-{n}", "story": "PROJ-1", "model": "gpt-4o", "agent": "coder", "run_id": "run-1",
            "input_tokens": 1200, "output_tokens": 300}


def test_a_single_event_request_makes_five_round_trips_and_preflight_three(app, client, auth, tmp_path):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": "200k"}, headers=auth)
    for n in range(6):  # warm: statements prepared, the token verified
        client.post("/api/v1/usage", json=usage(n), headers=auth)
    wire = Wire(app, tmp_path)
    client.post("/api/v1/usage", json=usage(100), headers=auth)  # a fresh connection: prepares again

    trips = wire.round_trips(lambda: client.post("/api/v1/usage", json=usage(101), headers=auth))
    # BEGIN, the run's stored streaks, the one statement (ledger + story + every rollup of the ledger's), the
    # retro's rollup (its listener), COMMIT. Nothing for GitHub or Jira: neither is in use here.
    assert len(trips) == 5, trips
    assert trips[0] == '"BEGIN"' and trips[-1] == '"COMMIT"'
    assert "WITH ins AS" in trips[2] and "retro_usage_days" in trips[3]

    ask = {"story": "PROJ-1", "agent": "coder", "run_id": "run-1"}
    trips = wire.round_trips(lambda: client.post("/api/v1/preflight", json=ask, headers=auth))
    assert len(trips) == 3, trips  # BEGIN, one read of every figure, COMMIT (never a ROLLBACK: see below)

    trips = wire.round_trips(lambda: client.get("/healthz"))
    assert len(trips) <= 5, trips


def test_no_request_throws_the_prepared_statements_away(app, client, auth, tmp_path):
    """psycopg forgets its prepared statements on every ROLLBACK; a read that ends with one costs every later
    statement its preparation."""
    wire = Wire(app, tmp_path)
    sent = []
    for n in range(8):
        sent += wire.round_trips(lambda n=n: client.post("/api/v1/usage", json=usage(n), headers=auth))
        sent += wire.round_trips(lambda: client.post("/api/v1/preflight", json={"agent": "coder"}, headers=auth))
        sent += wire.round_trips(lambda: client.get("/api/v1/stories/PROJ-1", headers=auth))
        sent += wire.round_trips(lambda: client.get("/healthz"))
    assert not [trip for trip in sent if "ROLLBACK" in trip or "DEALLOCATE" in trip]
    assert "(prepared)" in sent  # the ledger's statement runs prepared once it has been seen five times
