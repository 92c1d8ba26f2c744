"""Test senders for the outbox: a webhook-like HTTP sender (mocked with `responses`) and a recording one."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from bot import components
from bot.components import Component, registry
from bot.integrations.http import error_from_response
from bot.outbox import SenderSet, enqueue
from bot.outbox.tables import OutboxRow

HOOK = "https://hooks.example.test/notify"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

TESTHOOK, OTHERTEST, NOCREDENTIALS = SenderSet("testhook"), SenderSet("othertest"), SenderSet("nocredentials")


@pytest.fixture(autouse=True)
def test_senders(app, monkeypatch):
    """The test integrations, registered like a real integration's senders: on the test's app, and (as a
    component) on every app the test builds besides, such as the one a CLI command makes."""
    monkeypatch.setattr(components, "COMPONENTS", (*components.COMPONENTS, "outbox_helpers"))
    return register_test_senders(app)


def register_test_senders(app, reg=None):
    reg = reg or registry(app)
    reg.add_integration("testhook", lambda settings: True, TESTHOOK)
    reg.add_integration("othertest", lambda settings: True, OTHERTEST)
    reg.add_integration("nocredentials", lambda settings: False, NOCREDENTIALS)
    return reg


@TESTHOOK.sender("test.notify")
def notify(payload: dict, ctx) -> dict | None:
    """Like a real integration's sender: one POST, errors classified from the HTTP answer."""
    if ctx.dry_run:
        ctx.record("POST", HOOK, payload)
        return None
    response = requests.post(HOOK, json=payload, timeout=5)
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.headers, response.text, now=ctx.now)
    return {"status": response.status_code}


NOCREDENTIALS.sender("test.unconfigured")(notify)


@OTHERTEST.sender("test.other")
def other(payload: dict, ctx) -> None:
    requests.post(HOOK.replace("notify", "other"), json=payload, timeout=5)


class Recorder:
    """A no-network sender that counts what it was asked to send (thread-safe)."""

    def __init__(self) -> None:
        self.sent: Counter = Counter()
        self.order: list = []
        self.lock = threading.Lock()
        self.hook = None  # optional fn(payload) run inside the send

    def __call__(self, payload: dict, ctx) -> None:
        if self.hook:
            self.hook(payload)
        with self.lock:
            self.sent[payload["n"]] += 1
            self.order.append(payload["n"])


RECORDER = Recorder()
OTHERTEST.sender("test.record")(lambda payload, ctx: RECORDER(payload, ctx))


component = Component("outbox-tests", register_test_senders)


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def add(db, kind: str = "test.notify", payload: dict | None = None, key: str | None = None,
        now: datetime = T0) -> int:
    with db.transaction() as session:
        return enqueue(session, kind, payload if payload is not None else {"n": 1}, coalesce_key=key, now=now).id


def rows(db) -> list[OutboxRow]:
    with db.session_factory() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def row(db, row_id: int) -> OutboxRow:
    with db.session_factory() as session:
        return session.get(OutboxRow, row_id)
