"""What the ingest-time listeners (Jira Token Spend and escalation, GitHub check refresh) cost in statements:
a constant number per batch, however many stories the batch touches, and nothing for an integration not in use.

Statements, not time: a count is a behaviour a test can pin down (the speed itself is bench/integrations.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from github_support import SECRET, github_settings
from jira_support import jira_settings
from sqlalchemy import event, select

from bot.app import create_app
from bot.db import get_db
from bot.integrations.github.tables import GitHubPullRequest, GitHubPullRequestStory, GitHubRepository
from bot.integrations.jira.tables import JiraIssue
from bot.outbox import rows as outbox_rows
from bot.outbox.tables import OutboxRow
from bot.web.auth import create_token

REPO_ID = 4242
_ids = itertools.count()


@pytest.fixture
def settings_overrides(db_url):
    # Jira (live credentials; nothing is sent: no worker runs) and GitHub (App + webhook secret), all projects.
    return {**github_settings(db_url), **jira_settings(db_url), "jira_projects": []}


class Statements:
    """Every statement sent to the database: through SQLAlchemy, and the outbox's own DB-API fast path."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __len__(self) -> int:
        return len(self.sql)

    def touching(self, table: str) -> list[str]:
        return [sql for sql in self.sql if table in sql]


@contextmanager
def counted(app, monkeypatch) -> Iterator[Statements]:
    seen = Statements()
    engine = get_db(app).engine

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.sql.append(statement)

    raw_run = outbox_rows._DriverStatement.run

    def run(self, session, values):
        seen.sql.append(self.sql)
        return raw_run(self, session, values)

    event.listen(engine, "before_cursor_execute", before)
    monkeypatch.setattr(outbox_rows._DriverStatement, "run", run)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        monkeypatch.setattr(outbox_rows._DriverStatement, "run", raw_run)


def token(app) -> dict:
    with get_db(app).transaction() as session:
        return {"Authorization": f"Bearer {create_token(session, f'agent-{next(_ids)}')}"}


def post_batch(app, headers: dict, keys: list[str], events: int = 1000, tokens: int = 100) -> None:
    batch = [{"event_id": f"e-{next(_ids)}", "story": keys[i % len(keys)], "model": "gpt-4o", "agent": "coder",
              "input_tokens": tokens, "output_tokens": 10} for i in range(events)]
    response = app.test_client().post("/api/v1/usage", json={"events": batch}, headers=headers)
    assert response.status_code == 200, response.json


def track(app, keys: list[str], open_pr_every: int = 10) -> None:
    """What reconcile and the GitHub webhooks leave behind: a Jira issue per story, an open PR on every tenth."""
    with get_db(app).transaction() as session:
        if session.get(GitHubRepository, REPO_ID) is None:
            session.add(GitHubRepository(id=REPO_ID, full_name="acme/api"))
        for n, key in enumerate(keys):
            session.add(JiraIssue(key=key, issue_id=str(10_000 + next(_ids)), assignee_id=f"acct-{n}"))
            if n % open_pr_every == 0:
                pr = GitHubPullRequest(repo_id=REPO_ID, repo_full_name="acme/api", number=next(_ids),
                                       head_sha=f"{next(_ids):040x}", head_ref=f"{key}-work", title=key,
                                       state="open", labels=[], story_keys=[key])
                session.add(pr)
                session.flush()
                session.add(GitHubPullRequestStory(pull_request_id=pr.id, story_key=key))


def set_budget(app, headers: dict, key: str, tokens: int) -> None:
    response = app.test_client().put(f"/api/v1/stories/{key}/budget", json={"tokens": str(tokens)}, headers=headers)
    assert response.status_code == 200, response.json


def batch_costs(app, monkeypatch, project: str, stories: int) -> tuple[int, int]:
    """Statements of a first batch (every story gets its Token Spend row; two stories cross their budget)
    and of a second one (every story's row is already pending), 1,000 events over `stories` stories."""
    keys = [f"{project}-{n + 1}" for n in range(stories)]
    headers = token(app)
    track(app, keys)
    for key in (keys[0], keys[1]):  # both have an open PR: the crossing re-checks them right away
        set_budget(app, headers, key, tokens=100)  # one event crosses it
    with counted(app, monkeypatch) as first:
        post_batch(app, headers, keys)
    with counted(app, monkeypatch) as second:
        post_batch(app, headers, keys)
    return len(first), len(second)


def test_a_batch_costs_the_listeners_the_same_statements_for_50_or_500_stories(app, db, monkeypatch, db_url):
    plain = create_app({"database_url": db_url})  # no Jira, no GitHub: the ledger's own statements
    try:
        configured = {n: batch_costs(app, monkeypatch, f"P{n}X", n) for n in (50, 500)}
        bare = {n: batch_costs(plain, monkeypatch, f"Q{n}X", n) for n in (50, 500)}
    finally:
        get_db(plain).dispose()

    extra = {n: (configured[n][0] - bare[n][0], configured[n][1] - bare[n][1]) for n in (50, 500)}
    assert configured[50] == configured[500], (configured, bare)
    assert extra[50] == extra[500], extra
    # First batch: pending keys, Jira issues, the rows of both integrations, the PR lookup; plus what the two
    # crossings read for their comments (the same two stories whatever the batch size). Second: no writes.
    first, second = extra[500]
    assert second <= 3, (second, configured, bare)
    assert first <= 12, (first, configured, bare)

    with db.session_factory() as session:
        queued = session.execute(select(OutboxRow.kind, OutboxRow.coalesce_key)).all()
    spend = {key for kind, key in queued if kind == "jira.spend"}
    assert spend == {f"jira-spend:P{n}X-{i + 1}" for n in (50, 500) for i in range(n)}
    checks = [key for kind, key in queued if kind == "github.check_run"]
    assert len(checks) == len(set(checks)) == 5 + 50
    assert {kind for kind, key in queued if key.split(":")[1] == "P500X-1"} == {
        "jira.spend", "jira.labels", "jira.comment"}  # the crossing's label and comment went in the same insert


def test_one_pull_request_lookup_when_some_stories_cross_and_others_only_move(app, db, monkeypatch):
    headers = token(app)
    track(app, ["PROJ-1", "PROJ-2"], open_pr_every=1)
    set_budget(app, headers, "PROJ-1", tokens=100)
    with counted(app, monkeypatch) as seen:
        post_batch(app, headers, ["PROJ-1", "PROJ-2"], events=2)

    assert len(seen.touching("github_pull_request")) == 1
    with db.session_factory() as session:
        due = dict(session.execute(select(OutboxRow.payload["branch"].as_string(), OutboxRow.next_attempt_at)
                                   .where(OutboxRow.kind == "github.check_run")).all())
    assert due["PROJ-2-work"] - due["PROJ-1-work"] >= timedelta(seconds=29)  # figures only: the refresh interval


def test_without_github_no_pull_request_is_looked_up(app, monkeypatch):
    """No webhook secret (no PR can be tracked) and no App (no check can be sent): GitHub is not in use."""
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = settings.model_copy(update={"github_webhook_secret": None, "github_app_id": None,
                                                         "github_private_key": None})
    headers = token(app)
    track(app, ["PROJ-1"])  # a PR row left from before (the demo makes one): nothing may be sent for it
    with counted(app, monkeypatch) as seen:
        post_batch(app, headers, ["PROJ-1"], events=1)

    assert seen.touching("github_pull_request") == []
    assert seen.touching("outbox")  # Jira still queues its Token Spend


@pytest.mark.parametrize("dry_run", [{"github_app_id": None, "github_private_key": None}, {"dry_run": True}],
                         ids=["no-app-credentials", "BUDGETBOT_DRY_RUN"])
def test_github_in_dry_run_still_refreshes_the_checks(app, db, dry_run):
    """GitHub in dry-run still tracks PRs (the webhook is signed) and queues checks: the worker records them."""
    app.config["SETTINGS"] = app.config["SETTINGS"].model_copy(update=dry_run)
    assert app.config["SETTINGS"].github_webhook_secret.get_secret_value() == SECRET
    headers = token(app)
    track(app, ["PROJ-1"])
    post_batch(app, headers, ["PROJ-1"], events=1)

    with db.session_factory() as session:
        kinds = sorted(session.scalars(select(OutboxRow.kind)))
    assert kinds == ["github.check_run", "jira.spend"]
