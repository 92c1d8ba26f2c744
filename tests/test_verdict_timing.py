"""Issue 12, counts that depend on timing: rebuild racing ingest, error streaks by time not arrival, team days."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrum_support import add_sprint, ingest_events, set_story
from sqlalchemy import delete, event, func, select

from bot.all_tables import metadata
from bot.ledger.ingest import rebuild
from bot.ledger.rollups import rebuild as rebuild_rollups
from bot.ledger.rollups import streaks
from bot.ledger.tables import RunStat, Story, StoryDay, UsageDay, UsageEvent

POSTGRES = pytest.mark.skipif(not os.environ.get("BUDGETBOT_TEST_DATABASE_URL"),
                              reason="READ COMMITTED races need PostgreSQL")
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def usage(event_id: str, minute: int, outcome: str = "ok", story: str = "PROJ-1", run: str | None = "run-1") -> dict:
    return {"event_id": event_id, "story": story, "model": "gpt-4o", "run_id": run, "outcome": outcome,
            "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(), "input_tokens": 100, "output_tokens": 10,
            "cost_usd": "0.01"}


def pause_after(engine, thread_name: str, marker: str, until: threading.Event, reached: threading.Event):
    """Hold `thread_name` right after it runs a statement containing `marker`, until `until` (or 3 s)."""

    def hook(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == thread_name and marker in statement and not reached.is_set():
            reached.set()
            until.wait(3)

    event.listen(engine, "after_cursor_execute", hook)
    return lambda: event.remove(engine, "after_cursor_execute", hook)


@POSTGRES
def test_rebuild_never_loses_an_insert_that_commits_while_it_runs(app, db):
    ingest_events(app, db, [usage("e1", 0, run=None)])
    read, inserted = threading.Event(), threading.Event()
    undo = pause_after(db.engine, "rebuilder", "GROUP BY usage_events.story_key", inserted, read)
    errors: list[BaseException] = []

    def rebuilder():
        try:
            with app.app_context(), db.transaction() as session:
                rebuild(session)
                rebuild_rollups(session)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=rebuilder, name="rebuilder")
    thread.start()
    assert read.wait(5)
    ingest_events(app, db, [usage("e2", 1, run=None)])  # waits for the rebuild to commit (after the fix)
    inserted.set()
    thread.join()
    undo()
    assert errors == []
    with db.session_factory() as session:
        ledger = session.scalar(select(func.count()).select_from(UsageEvent))
        assert ledger == 2
        assert session.get(Story, "PROJ-1").events == ledger
        assert session.scalar(select(func.sum(StoryDay.events))) == ledger
        assert session.scalar(select(func.sum(UsageDay.events))) == ledger


@POSTGRES
def test_two_concurrent_first_batches_of_a_run_count_one_streak(app, db):
    # A has written its run row and not committed; B reads the run before A commits (the race).
    a_wrote, b_read = threading.Event(), threading.Event()
    # Both hooks before any thread runs: listeners must not be added while another thread dispatches them.
    undo = pause_after(db.engine, "writer-a", "INSERT INTO scrum_runs", b_read, a_wrote)
    go_on = threading.Event()
    go_on.set()
    b_undo = pause_after(db.engine, "writer-b", "FROM scrum_runs", go_on, b_read)
    errors: list[BaseException] = []

    def writer(events):
        try:
            ingest_events(app, db, events)
        except BaseException as exc:
            errors.append(exc)

    # Other stories and agents: the two batches share only the run, so nothing else orders them.
    first = [usage("a1", 0, "error") | {"agent": "a"}, usage("a2", 1, "error") | {"agent": "a"}]
    second = [usage("b1", 2, "error", story="PROJ-2") | {"agent": "b"},
              usage("b2", 3, "error", story="PROJ-2") | {"agent": "b"}]
    a = threading.Thread(target=writer, name="writer-a", args=(first,))
    a.start()
    assert a_wrote.wait(5)
    b = threading.Thread(target=writer, name="writer-b", args=(second,))
    b.start()
    a.join()
    b.join()
    undo()
    b_undo()
    assert errors == []
    with db.session_factory() as session:
        run = session.get(RunStat, "run-1")
        assert (run.errors_since_ok, run.max_error_streak, run.events, run.errors) == (4, 4, 4, 4)


def test_an_older_ok_event_arriving_after_an_error_batch_ends_no_streak(app, db):
    ingest_events(app, db, [usage("e2", 2, "error"), usage("e3", 3, "error"), usage("e4", 4, "error")])
    ingest_events(app, db, [usage("e1", 1, "ok")])  # older than the errors: they still are the run's last three
    with db.session_factory() as session:
        run = session.get(RunStat, "run-1")
        assert (run.errors_since_ok, run.max_error_streak) == (3, 3)


def _reset(db) -> None:
    with db.transaction() as session:
        for table in reversed(metadata.sorted_tables):
            session.execute(delete(table))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=12), data=st.data())
def test_streaks_are_a_function_of_time_order_whatever_the_arrival_order(app, db, outcomes, data):
    _reset(db)
    events = [usage(f"e{i:02d}", i, "error" if error else "ok") for i, error in enumerate(outcomes)]
    arrival = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(arrival) - 1)), max_size=len(arrival))))
    for start, end in zip([0, *cuts], [*cuts, len(arrival)], strict=True):
        if arrival[start:end]:
            ingest_events(app, db, arrival[start:end])
    expected = streaks(0, 0, outcomes)
    with db.session_factory() as session:
        run = session.get(RunStat, "run-1")
        live = (run.errors_since_ok, run.max_error_streak)
    with app.app_context(), db.transaction() as session:
        rebuild_rollups(session)
    with db.session_factory() as session:
        run = session.get(RunStat, "run-1")
        assert live == expected == (run.errors_since_ok, run.max_error_streak)


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "timezone": "America/Los_Angeles", "digest_days": "mon-fri",
            "anomaly_rules_off": ["budget_share"]}


def test_the_digest_reports_the_teams_days_not_utc_days(app, db, cli):
    from bot.reports.scrum.digest_data import load

    la = ZoneInfo("America/Los_Angeles")
    tuesday_8pm = datetime(2026, 11, 3, 20, 0, tzinfo=la)  # Wednesday 04:00 UTC
    add_sprint(db, "S1", datetime(2026, 11, 2, 17, 0, tzinfo=UTC), datetime(2026, 11, 16, 17, 0, tzinfo=UTC))
    set_story(db, "PROJ-1", sprint="S1", budget_nano_usd=50 * 10**9)
    spend = usage("t1", 0, run=None) | {"occurred_at": tuesday_8pm.isoformat(), "cost_usd": "5"}
    import time_machine

    with time_machine.travel(datetime(2026, 11, 4, 9, 0, tzinfo=la)):
        ingest_events(app, db, [spend])
        with app.app_context(), db.session_factory() as session:
            data = load(session, app.config["SETTINGS"], datetime.now(UTC))
    assert data.window == (tuesday_8pm.date(), tuesday_8pm.date())
    assert data.window_nano == 5 * 10**9
    assert data.sprints[0].stories[0].daily == {tuesday_8pm.date(): (110, 5 * 10**9)}
    rebuilt = cli("rebuild", env={"BUDGETBOT_TIMEZONE": "America/Los_Angeles"})
    assert "0 stories and 0 daily rows differed" in rebuilt.output
