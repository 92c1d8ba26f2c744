"""`budgetbot sprint add|list` for teams without Jira, and the help of the retro commands."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from sqlalchemy import select

from bot.ledger.tables import Sprint


def test_sprint_add_stores_whole_utc_days_with_an_inclusive_end(cli, db):
    result = cli("sprint", "add", "Sprint 42", "--start", "2026-03-02", "--end", "2026-03-13")

    assert result.exit_code == 0 and "Mon 2026-03-02 to Fri 2026-03-13" in result.output  # the last day, inclusive
    with db.session_factory() as session:
        sprint = session.scalar(select(Sprint))
    assert (sprint.start_at, sprint.end_at) == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 14, tzinfo=UTC))
    assert sprint.state is None and sprint.jira_sprint_id is None  # state is derived from the dates


def test_sprint_add_takes_date_times_and_refuses_duplicates_and_backwards_dates(cli):
    timed = cli("sprint", "add", "S1", "--start", "2026-03-02T09:00:00+01:00", "--end", "2026-03-16T09:00:00Z")
    again = cli("sprint", "add", "S1", "--start", "2026-04-01", "--end", "2026-04-10")
    backwards = cli("sprint", "add", "S2", "--start", "2026-04-10", "--end", "2026-04-01")

    assert timed.exit_code == 0 and "2026-03-02 08:00 to 2026-03-16 09:00" in timed.output
    assert again.exit_code != 0 and "already exists" in again.output
    assert backwards.exit_code != 0 and "--end 2026-04-01 is before --start 2026-04-10" in backwards.output


@time_machine.travel(datetime(2026, 3, 20, 12, tzinfo=UTC), tick=False)
def test_sprint_list_newest_first_with_state_from_dates(cli, db):
    cli("sprint", "add", "Old", "--start", "2026-03-02", "--end", "2026-03-13")
    cli("sprint", "add", "Now", "--start", "2026-03-16", "--end", "2026-03-27")
    with db.transaction() as session:
        session.add(Sprint(name="Jira 7", state="future", jira_sprint_id=7))

    lines = cli("sprint", "list").output.splitlines()

    assert lines[0].split("\t")[:2] == ["Now", "active"]
    assert lines[1].split("\t")[:2] == ["Old", "closed"]
    assert lines[2].split("\t") == ["Jira 7", "future", "no dates", "jira"]


def test_sprint_list_when_empty(cli):
    assert "budgetbot sprint add" in cli("sprint", "list").output


def test_help_lists_the_retro_commands(cli):
    output = cli("--help").output

    for command in ("retro", "sprint", "export"):
        assert command in output
    assert "--group-by" in cli("export", "--help").output
    assert "--post slack|jira:KEY" in cli("retro", "--help").output
