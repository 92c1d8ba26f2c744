"""`budgetbot export`: raw rows and grouped sums as CSV/JSONL, unpriced kept apart, streamed in constant memory."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from retro_ledger import build_ledger, prices_file
from sqlalchemy import event, insert

from bot.ledger.tables import UsageEvent
from bot.reports.export import export_lines, reading_session
from bot.reports.retro.period import date_range


@pytest.fixture
def ledger(app, db, prices_file):
    build_ledger(db, prices_file)
    return db


def export(cli, *args):
    result = cli("export", "--from", "2026-03-02", "--to", "2026-03-13", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_raw_csv_has_one_row_per_event_and_leaves_unpriced_blank(cli, ledger):
    rows = list(csv.DictReader(io.StringIO(export(cli))))

    assert [r["event_id"] for r in rows] == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]  # e0 is in February
    e1 = rows[0]
    assert (e1["story"], e1["project"], e1["team"], e1["cost_center"], e1["usd"], e1["priced"]) == (
        "A-1", "A", "core", "CC1", "0.52", "True")
    assert (e1["input_tokens"], e1["cache_read_tokens"], e1["output_tokens"]) == ("40000", "20000", "10000")
    assert json.loads(e1["attributes"]) == {"cost_center": "CC1", "team": "core"}
    e5 = rows[4]
    assert (e5["model"], e5["usd"], e5["priced"], e5["price_source"]) == ("mystery", "", "False", "unpriced")


def test_grouped_jsonl_sums_per_team_and_model(cli, ledger):
    teams = [json.loads(line) for line in export(cli, "--format", "jsonl", "--group-by", "team").splitlines()]
    models = {r["model"]: r for r in map(json.loads, export(cli, "--format", "jsonl", "--group-by", "model")
                                         .splitlines())}

    by_team = {r["team"]: r for r in teams}
    assert (by_team["core"]["events"], by_team["core"]["tokens"], by_team["core"]["usd"]) == (4, 125_000, "1.48")
    assert (by_team[None]["events"], by_team[None]["unpriced_events"], by_team[None]["usd"]) == (2, 1, "0.04")
    assert (models["mystery"]["usd"], models["mystery"]["unpriced_events"]) == (None, 1)  # unknown, not 0
    assert models["big"] | {"model": None} == {
        "model": None, "events": 4, "unpriced_events": 0, "input_tokens": 91_000, "output_tokens": 26_000,
        "cache_read_tokens": 20_000, "cache_write_tokens": 0, "reasoning_tokens": 0, "tokens": 117_000,
        "usd": "1.51"}


@pytest.mark.parametrize("group, expected", [
    ("story", {"A-1": "0.53", "A-2": "0.95", "A-3": "", "A-4": "0.085", "": "0.04"}),
    ("cost_center", {"CC1": "1.48", "CC2": "0.085", "": "0.04"}),
    ("agent", {"chat": "0.04", "coder": "0.615", "reviewer": "0.95"}),
    ("day", {"2026-03-02": "0.52", "2026-03-03": "0.26", "2026-03-04": "0.70", "2026-03-05": "0.085",
             "2026-03-06": "0.04"}),
])
def test_grouped_csv(cli, ledger, group, expected):
    rows = list(csv.DictReader(io.StringIO(export(cli, "--group-by", group))))

    assert {r[group]: r["usd"] for r in rows} == expected


def test_project_filter_and_bad_dates(cli, ledger):
    rows = list(csv.DictReader(io.StringIO(export(cli, "--project", "a", "--group-by", "story"))))
    backwards = cli("export", "--from", "2026-03-13", "--to", "2026-03-02")

    assert sorted(r["story"] for r in rows) == ["A-1", "A-2", "A-3", "A-4"]
    assert backwards.exit_code != 0 and "before --from" in backwards.output


def test_out_writes_the_file(cli, ledger, tmp_path):
    target = tmp_path / "march.jsonl"

    export(cli, "--format", "jsonl", "--out", str(target))

    assert len(target.read_text().splitlines()) == 7


def fill(db, first: int, count: int) -> None:
    """Bulk-insert `count` priced events in April (executemany; the ledger's totals are not needed here)."""
    start = datetime(2026, 4, 1, tzinfo=UTC)
    with db.transaction() as session:
        session.execute(insert(UsageEvent), [
            {"event_id": f"bulk-{n}", "content_hash": "x", "story_key": f"B-{n % 50 + 1}",
             "occurred_at": start + timedelta(seconds=n), "received_at": start, "agent": "coder", "model": "small",
             "provider": "acme", "run_id": f"run-{n // 20}", "input_tokens": 1000, "output_tokens": 100,
             "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "tool_calls": 0,
             "cost_nano_usd": 1300, "priced": True, "price_source": "price-file", "outcome": "ok",
             "latency_ms": 10, "attributes": {"team": "core", "note": "x" * 100}} for n in range(first, first + count)])


def peak_while_exporting(db, fmt: str) -> tuple[int, int]:
    lines = 0
    with db.session_factory() as session, session.begin():
        tracemalloc.start()
        for _ in export_lines(session, date_range("2026-04-01", "2026-04-30"), fmt):
            lines += 1
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return lines, peak


def test_export_streams_in_constant_memory(db):
    seen = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many: seen.append(context.execution_options))
    fill(db, 0, 2_000)
    small = peak_while_exporting(db, "csv")
    fill(db, 2_000, 18_000)
    large = peak_while_exporting(db, "jsonl")

    assert small[0] == 2_001 and large[0] == 20_000  # CSV has a header line
    assert any(options.get("stream_results") for options in seen)
    # Ten times the rows, about the same memory: rows are never all held (a list of them would be ~10x).
    assert large[1] < small[1] * 2, (small, large)


def test_a_long_export_on_sqlite_does_not_block_ingest(db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never block writers")
    fill(db, 0, 5_000)
    with reading_session(db.engine) as session:
        lines = export_lines(session, date_range("2026-04-01", "2026-04-30"), "csv")
        next(lines), next(lines)  # mid-export, the cursor open
        writer = sqlite3.connect(db.engine.url.database, timeout=0.5)
        writer.execute("BEGIN IMMEDIATE")  # what ingest does: it gets the write lock at once
        writer.execute("UPDATE usage_events SET agent = 'x' WHERE event_id = 'bulk-1'")
        writer.commit()
        writer.close()
        assert sum(1 for _ in lines) == 4_999
