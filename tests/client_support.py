"""Helpers of the client tests: the real app served over HTTP on a loopback port, and clients pointed at it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from budgetbot_client import BudgetClient
from sqlalchemy import MetaData, Table, func, select
from werkzeug.serving import make_server


class LiveServer:
    """The app behind werkzeug on 127.0.0.1; stop() and start() again on the same port (an outage)."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = 0
        self.unavailable = False  # when set, every request is answered 503 (the app restarting)
        self.retry_after: str | None = None
        self.requests: list[str] = []
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wsgi(self, environ, start_response):
        self.requests.append(environ["PATH_INFO"])
        if self.unavailable:
            headers = [("Content-Type", "application/json")]
            if self.retry_after is not None:
                headers.append(("Retry-After", self.retry_after))
            start_response("503 Service Unavailable", headers)
            return [b'{"error": "unavailable", "message": "restarting"}']
        return self.app(environ, start_response)

    def start(self) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
                break
            except OSError:  # the old socket may linger for a moment after stop()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def token(auth) -> str:
    return auth["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def make_client(live, token, tmp_path) -> Iterator[Callable[..., BudgetClient]]:
    """BudgetClient(live.url, token) with a spool of its own under tmp_path; closed at the end of the test."""
    made: list[BudgetClient] = []

    def make(**options) -> BudgetClient:
        options.setdefault("spool_path", tmp_path / "spool.jsonl")
        options.setdefault("timeout", 2.0)
        options.setdefault("agent", "coder")
        client = BudgetClient(options.pop("url", live.url), options.pop("token", token), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=2)


def _ledger(db) -> Table:
    # Read from the database itself, not through the server's models: the client is tested from outside.
    return Table("usage_events", MetaData(), autoload_with=db.engine)


def ledger_rows(db, **where) -> list:
    """The ledger's rows (attribute access by column name), oldest first."""
    table = _ledger(db)
    query = select(table).order_by(table.c.id)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with db.engine.connect() as connection:
        return list(connection.execute(query))


def ledger_count(db) -> int:
    with db.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(_ledger(db)))


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, message: str = "condition") -> object:
    """Poll until predicate() is truthy; fail after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.01)


def story(client, auth, key: str) -> dict:
    response = client.get(f"/api/v1/stories/{key}", headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def set_budget(client, auth, key: str, **budget) -> None:
    response = client.put(f"/api/v1/stories/{key}/budget", json=budget, headers=auth)
    assert response.status_code == 200, response.json
