"""Dashboard test helpers: users, logging in through the real form (with its CSRF token), and seeded stories."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.ledger.tables import Sprint, Story
from bot.web.users import create_user

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-0123456789abcdef"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def add_users(db) -> None:
    with db.transaction() as session:
        create_user(session, "ada", PASSWORD, "admin")
        create_user(session, "vic", PASSWORD, "viewer")


def log_in(client, name: str, password: str = PASSWORD):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def seed(client, auth, db, now: datetime | None = None) -> None:
    """A sprint of three stories: one over budget with a runaway run, one dollar-only, one without spend."""
    now = now or datetime.now(UTC)
    start = (now - timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
    client.put("/api/v1/stories/PROJ-1/budget", json={"usd": "$5"}, headers=auth)
    client.put("/api/v1/stories/PROJ-2/budget", json={"tokens": "200k", "usd": "$20"}, headers=auth)
    client.put("/api/v1/stories/PROJ-3/budget", json={"tokens": "100k"}, headers=auth)
    events = []
    for n in range(8):  # the runaway: 8 calls, all failed
        events.append({"event_id": f"loop-{n}", "story": "PROJ-1", "model": "gpt-4o", "agent": "coder",
                       "run_id": "run-loop", "outcome": "error", "input_tokens": 390_000, "output_tokens": 1000,
                       "occurred_at": (start + timedelta(days=1, minutes=n)).isoformat()})
    for n in range(3):
        events.append({"event_id": f"ok-{n}", "story": "PROJ-2", "model": "claude-sonnet-4-5", "agent": "reviewer",
                       "run_id": "run-ok", "input_tokens": 20_000, "output_tokens": 2000,
                       "occurred_at": (start + timedelta(days=n * 2)).isoformat()})
    response = client.post("/api/v1/usage", json={"events": events}, headers=auth)
    assert response.status_code in (200, 201, 207), response.get_data(as_text=True)
    with db.transaction() as session:
        session.add(Sprint(name="Sprint 42", state="active", start_at=start, end_at=start + timedelta(days=13)))
        for key, summary, assignee in (("PROJ-1", "Checkout <script>alert(1)</script>", "Grace"),
                                       ("PROJ-2", "Refunds", "Linus"), ("PROJ-3", "Invoices", None)):
            story = session.get(Story, key)
            story.summary, story.assignee, story.sprint = summary, assignee, "Sprint 42"
