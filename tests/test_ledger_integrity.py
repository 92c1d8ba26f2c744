"""The ledger is the source of truth: live aggregates equal the ledger, under concurrency, and rebuild agrees."""

from __future__ import annotations

import os
import random
import threading

import pytest
from sqlalchemy import func, select

from bot.app_pricer import get_pricer
from bot.ledger.ingest import ingest, rebuild
from bot.ledger.rollups import rebuild_runs
from bot.ledger.tables import RunStat, Story, StoryDay, UsageEvent
from bot.ledger.usage_shapes import parse_usage_body

MODELS = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "unknown-local-model"]


def make_events(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"event_id": f"ev-{rng.randrange(count * 2)}", "story": f"PROJ-{rng.randrange(1, 6)}",
             "model": MODELS[rng.randrange(len(MODELS))], "agent": f"agent-{rng.randrange(3)}",
             "occurred_at": f"2026-11-{rng.randrange(1, 5):02d}T{rng.randrange(24):02d}:00:00Z",
             "input_tokens": 0, "output_tokens": 0}
            for _ in range(count)]


def with_content_from_id(events: list[dict]) -> list[dict]:
    # The same event_id always carries the same content, so overlaps are duplicates, not conflicts.
    for item in events:
        n = int(item["event_id"].split("-")[1])
        item.update(story=f"PROJ-{n % 5 + 1}", model=MODELS[n % len(MODELS)], agent=f"agent-{n % 3}",
                    occurred_at=f"2026-11-{n % 4 + 1:02d}T{n % 24:02d}:00:00Z",
                    input_tokens=100 + n, output_tokens=n % 50)
    return events


def ledger_sums(session) -> dict:
    tokens = func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens)
    return {key: (int(t), int(n), int(c)) for key, t, n, c in session.execute(
        select(UsageEvent.story_key, tokens, func.sum(UsageEvent.cost_nano_usd), func.count())
        .group_by(UsageEvent.story_key))}


def story_sums(session) -> dict:
    return {s.key: (s.spent_tokens, s.spent_nano_usd, s.events) for s in session.scalars(select(Story))}


def day_sums(session) -> dict:
    totals: dict = {}
    for day in session.scalars(select(StoryDay)):
        t, n, c = totals.get(day.story_key, (0, 0, 0))
        totals[day.story_key] = (t + day.tokens, n + day.nano_usd, c + day.events)
    return totals


def ingest_all(app, db, batches):
    with app.app_context():
        pricer = get_pricer()
    for batch in batches:
        events, _ = parse_usage_body({"events": batch}, 1000)
        with db.transaction() as session:
            ingest(session, events, pricer, app.config["SETTINGS"].warn_threshold)


def ingest_concurrently(app, db, batches, writers: int = 8) -> list[BaseException]:
    """`writers` threads each ingesting every `writers`-th batch at once; returns what they raised."""
    errors: list[BaseException] = []

    def writer(mine):
        try:
            ingest_all(app, db, mine)
        except BaseException as exc:  # returned: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(batches[i::writers],)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_rebuild_changes_nothing_after_live_ingest(app, db):
    ingest_all(app, db, [with_content_from_id(make_events(seed, 200)) for seed in range(5)])
    with db.session_factory() as session:
        live = (story_sums(session), day_sums(session))

    with db.transaction() as session:
        changed = rebuild(session)

    with db.session_factory() as session:
        assert changed == {"stories_changed": 0, "day_rows_changed": 0}
        assert (story_sums(session), day_sums(session)) == live
        assert story_sums(session) == {k: v for k, v in ledger_sums(session).items() if k}


def test_rebuild_repairs_drifted_aggregates(app, db, cli):
    ingest_all(app, db, [with_content_from_id(make_events(1, 100))])
    with db.transaction() as session:
        session.get(Story, "PROJ-1").spent_tokens += 12345

    result = cli("rebuild")

    assert "1 stories" in result.output
    with db.session_factory() as session:
        assert story_sums(session) == {k: v for k, v in ledger_sums(session).items() if k}


@pytest.mark.skipif(not os.environ.get("BUDGETBOT_TEST_DATABASE_URL"), reason="concurrent writers need PostgreSQL")
def test_eight_concurrent_writers_with_overlapping_batches(app, db):
    batches = [with_content_from_id(make_events(seed, 250)) for seed in range(32)]
    assert ingest_concurrently(app, db, batches) == []
    distinct = {e["event_id"] for batch in batches for e in batch}
    with db.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == len(distinct)
        ledger = {k: v for k, v in ledger_sums(session).items() if k}
        assert story_sums(session) == ledger
        assert day_sums(session) == ledger


def run_rows(session) -> list[tuple]:
    return sorted((r.run_id, r.events, r.tokens, r.errors, r.errors_since_ok, r.max_error_streak)
                  for r in session.scalars(select(RunStat)))


@pytest.mark.skipif(not os.environ.get("BUDGETBOT_TEST_DATABASE_URL"), reason="concurrent writers need PostgreSQL")
def test_concurrent_batches_of_the_same_runs_keep_exact_error_streaks(app, db):
    """Streaks continue from the stored run row; a batch that another one overtook between its read and its
    write (or that arrived out of time order) is recounted from the ledger, so the totals equal a rebuild."""
    rng = random.Random(7)
    batches = []
    for batch in range(96):
        events = []
        for n in range(rng.randrange(1, 6)):
            minute = batch * 10 + n  # in time order, but eight writers race: reads go stale, some arrive late
            events.append({"event_id": f"run-ev-{batch}-{n}", "story": "PROJ-1", "model": "gpt-4o",
                           "run_id": f"run-{rng.randrange(3)}", "agent": "coder",
                           "occurred_at": f"2026-11-02T{minute // 60:02d}:{minute % 60:02d}:00Z",
                           "outcome": rng.choice(["ok", "error", "error"]), "input_tokens": 10, "output_tokens": 1})
        batches.append(events)
    assert ingest_concurrently(app, db, batches) == []
    with db.session_factory() as session:
        live = run_rows(session)
    with db.transaction() as session:
        rebuild_runs(session)
    with db.session_factory() as session:
        assert run_rows(session) == live
    assert sum(row[1] for row in live) == sum(len(batch) for batch in batches)
    assert any(row[5] >= 2 for row in live)  # streaks were at stake
