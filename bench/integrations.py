"""Integrations benchmark: batch ingest with Jira + GitHub configured, as a ratio to batch ingest without them.

    python bench/integrations.py                      # SQLite (temporary file)
    python bench/integrations.py --postgres URL       # also PostgreSQL: creates bb_bench_listeners on that
                                                      # server (URL's database is only connected to), drops it
    python bench/integrations.py --rounds 40 --batches 1 --stories 500

Two apps on one database: `plain` (no Jira, no GitHub) and `configured` (a Jira site with credentials, a
GitHub App with its webhook secret; nothing is sent: no worker runs). Every batch is 1,000 events over
`--stories` stories through POST /api/v1/usage; every story has a Jira issue and every tenth an open PR, as
reconcile and the webhooks leave them. The apps take turns on the same ledger (the order flips each round,
so drift lands on both sides); each round times `--batches` batches per app, and the figure is the ratio of
their rates: min and median over the rounds. Target >= 90%, goal 100%. With one batch a round it also prints
the share of a configured batch spent inside the listeners, measured within the request itself.

  steady: the Token Spend rows of the last batch are still pending (the common case: they are held back
          BUDGETBOT_JIRA_SPEND_INTERVAL seconds), so the listeners find them and write only the PR checks.
  fresh:  the worker has sent everything meanwhile (marked done, untimed): every story gets its row again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, event, make_url, text, update

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db
from bot.integrations.github.tables import (
    GitHubPullRequest,
    GitHubPullRequestStory,
    GitHubRepository,
)
from bot.integrations.jira.tables import JiraIssue
from bot.outbox import rows as outbox_rows
from bot.outbox.tables import OutboxRow
from bot.web.auth import create_token

BENCH_DATABASE = "bb_bench_listeners"
MODELS = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4.1-mini"]
_ids = itertools.count()


def configured_settings(url: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return {"database_url": url, "log_level": "WARNING", "jira_url": "https://bench.atlassian.invalid",
            "jira_email": "bench@example.com", "jira_api_token": "bench-token", "jira_webhook_secret": "bench",
            "github_webhook_secret": "bench", "github_app_id": 1, "github_private_key": key,
            "github_api_url": "https://github.invalid/api/v3", "public_url": "https://budgetbot.invalid"}


def seed(app, stories: int) -> None:
    """What reconcile and the GitHub webhooks leave: a Jira issue per story, an open PR on every tenth."""
    engine = get_db(app).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with get_db(app).transaction() as session:
        session.add(GitHubRepository(id=4242, full_name="acme/api"))
        for n in range(stories):
            key = f"PROJ-{n + 1}"
            session.add(JiraIssue(key=key, issue_id=str(10_000 + n), assignee_id=f"acct-{n}"))
            if n % 10 == 0:
                pr = GitHubPullRequest(repo_id=4242, repo_full_name="acme/api", number=n + 1, head_sha=f"{n:040x}",
                                       head_ref=f"{key}-work", title=f"{key}: work", state="open", labels=[],
                                       story_keys=[key])
                session.add(pr)
                session.flush()
                session.add(GitHubPullRequestStory(pull_request_id=pr.id, story_key=key))


def body(stories: int, events: int) -> str:
    start = next(_ids) * events
    return json.dumps({"events": [
        {"event_id": f"bench-{start + i}", "story": f"PROJ-{i % stories + 1}", "model": MODELS[i % 4],
         "agent": f"agent-{i % 7}", "run_id": f"run-{(start + i) // 50}", "input_tokens": 1000 + i % 5000,
         "output_tokens": 200 + i % 300, "cache_read_tokens": i % 800, "attributes": {"team": f"team-{i % 4}"}}
        for i in range(events)]})


class Poster:
    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()
        with get_db(app).transaction() as session:
            self.headers = {"Authorization": f"Bearer {create_token(session, f'bench-{next(_ids)}')}",
                            "Content-Type": "application/json"}

    def post(self, payload: str) -> None:
        response = self.client.post("/api/v1/usage", data=payload, headers=self.headers)
        assert response.status_code == 200, response.json

    def timed(self, payloads: list[str]) -> float:
        """Seconds for these batches, one request each."""
        started = time.perf_counter()
        for payload in payloads:
            self.post(payload)
        return time.perf_counter() - started

    def statements(self, payload: str) -> int:
        """Statements one batch sends: through SQLAlchemy, and through enqueue's DB-API fast path."""
        seen = []

        def count(*_args) -> None:
            seen.append(1)

        raw_run = outbox_rows._DriverStatement.run

        def run(statement, session, values):
            seen.append(1)
            return raw_run(statement, session, values)

        event.listen(get_db(self.app).engine, "before_cursor_execute", count)
        outbox_rows._DriverStatement.run = run  # type: ignore[method-assign]
        try:
            self.post(payload)
        finally:
            outbox_rows._DriverStatement.run = raw_run  # type: ignore[method-assign]
            event.remove(get_db(self.app).engine, "before_cursor_execute", count)
        return len(seen)


def send_everything(app) -> None:
    """What the worker would have done between two batches: every pending row sent."""
    with get_db(app).transaction() as session:
        session.execute(update(OutboxRow).where(OutboxRow.state == "pending").values(state="done"))


class ListenerClock:
    """Seconds spent in the spend listeners (Jira, GitHub) since the last `take()`. Installed before the apps
    are made (each registers the module's function as it finds it), so both apps' listeners are timed; the
    plain app's return at once (its integrations are off)."""

    def __init__(self) -> None:
        from bot.integrations.github import checks
        from bot.integrations.jira import escalation

        self.spent = 0.0
        for module in (escalation, checks):
            module.on_spend_changed = self._timed(module.on_spend_changed)  # type: ignore[method-assign]

    def _timed(self, listener):
        def timed(session, changes) -> None:
            started = time.perf_counter()
            try:
                listener(session, changes)
            finally:
                self.spent += time.perf_counter() - started
        return timed

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent


CLOCK = ListenerClock()


def measure(url: str, mode: str, rounds: int, batches: int, stories: int, events: int) -> dict:
    plain_app = create_app({"database_url": url, "log_level": "WARNING"})
    configured_app = create_app(configured_settings(url))
    seed(plain_app, stories)
    plain, configured = Poster(plain_app), Poster(configured_app)
    for poster in (plain, configured):  # warm: caches, statements, a pending row for every story
        poster.post(body(stories, events))
    if mode == "fresh":
        send_everything(configured_app)
    counts = {"plain": plain.statements(body(stories, events)),
              "configured": configured.statements(body(stories, events))}
    rates: dict[str, list[float]] = {"plain": [], "configured": []}
    ratios, shares = [], []
    for round_ in range(rounds):
        elapsed = {}
        order = [("plain", plain), ("configured", configured)]
        for name, poster in order if round_ % 2 == 0 else order[::-1]:  # ABBA: drift lands on both sides
            elapsed[name] = 0.0
            for _ in range(batches):
                payload = body(stories, events)
                if mode == "fresh" and name == "configured":
                    send_everything(configured_app)  # the worker emptied the outbox meanwhile (untimed)
                CLOCK.take()
                elapsed[name] += poster.timed([payload])
                if name == "configured":
                    shares.append(CLOCK.take() / elapsed[name] if batches == 1 else 0.0)
        for name in rates:
            rates[name].append(batches * events / elapsed[name])
        ratios.append(elapsed["plain"] / elapsed["configured"])
    for app in (plain_app, configured_app):
        get_db(app).dispose()
    return {"rates": rates, "ratios": ratios, "counts": counts, "shares": shares}


def report(label: str, url: str, args) -> None:
    print(f"[{label}] {args.events:,} events a batch over {args.stories} stories, {args.rounds} rounds of "
          f"{args.batches} batches per app, interleaved")
    for mode in ("steady", "fresh"):
        result = measure(url, mode, args.rounds, args.batches, args.stories, args.events)
        plain, configured = (statistics.median(result["rates"][name]) for name in ("plain", "configured"))
        ratios = result["ratios"]
        print(f"  {mode:<6} without integrations : {plain:>9,.0f} events/s (median)   "
              f"{result['counts']['plain']} statements a batch")
        print(f"         Jira + GitHub        : {configured:>9,.0f} events/s (median)   "
              f"{result['counts']['configured']} statements a batch")
        print(f"         ratio (with/without) : min {min(ratios):.0%}  median {statistics.median(ratios):.0%}"
              "   target >= 90%, goal 100%")
        if args.batches == 1:
            share = statistics.median(result["shares"])
            print(f"         in the listeners     : {share:.1%} of a configured batch (median; same request, so "
                  f"drift-free: ratio ~ {1 - share:.0%})")


def own_database(server_url: str):
    """A database of our own on the server `server_url` names: (its URL, a function that drops it)."""
    server = make_url(server_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}"'))
        connection.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=BENCH_DATABASE).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batches", type=int, default=1, help="batches per app per round")
    parser.add_argument("--stories", type=int, default=500)
    parser.add_argument("--events", type=int, default=1000, help="events a batch")
    parser.add_argument("--postgres", default=os.environ.get("BUDGETBOT_BENCH_POSTGRES_URL"),
                        help=f"PostgreSQL server URL: the benchmark creates {BENCH_DATABASE} there and drops it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("SQLite", f"sqlite:///{folder}/bench.sqlite3", args)
    if args.postgres:
        url, drop = own_database(args.postgres)
        try:
            report("PostgreSQL", url, args)
        finally:
            drop()


if __name__ == "__main__":
    main()
