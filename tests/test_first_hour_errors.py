"""No traceback on the way: each first-hour mistake gets one clear line and an exit code other than 0."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PG_SERVER_URL
from sqlalchemy import text

from bot.cli.main import main
from bot.config import load_settings, unknown_variables, user_data_dir
from bot.db import make_engine

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_command_in_another_folder_creates_no_database_and_says_to_upgrade(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("BUDGETBOT_DATABASE_URL", raising=False)
    target = tmp_path / "new" / "ledger.sqlite3"

    named = run("status", "PROJ-1", env={"BUDGETBOT_DATABASE_URL": f"sqlite:///{target}"})
    listing = run("stories", env={"BUDGETBOT_DATABASE_URL": f"sqlite:///{target}"})

    assert "run `budgetbot db upgrade`" in one_line_error(named)
    assert "run `budgetbot db upgrade`" in one_line_error(listing)
    assert not target.exists() and not target.parent.exists()
    assert not (tmp_path / "instance").exists()


def test_the_default_database_does_not_depend_on_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert user_data_dir() == tmp_path / "data" / "budgetbot"
    import bot.config

    assert "instance" not in bot.config.DEFAULT_DATABASE_URL


def test_an_empty_or_old_schema_says_to_upgrade(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    make_engine(f"sqlite:///{empty}").connect().close()
    old = tmp_path / "old.sqlite3"
    engine = make_engine(f"sqlite:///{old}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(64) PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0005')"))
    engine.dispose()

    assert "is empty: run `budgetbot db upgrade`" in one_line_error(
        run("status", "PROJ-1", env={"BUDGETBOT_DATABASE_URL": f"sqlite:///{empty}"}))
    assert "at revision 0005, behind" in one_line_error(
        run("status", "PROJ-1", env={"BUDGETBOT_DATABASE_URL": f"sqlite:///{old}"}))


def test_db_upgrade_creates_the_database_the_others_then_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'ledger.sqlite3'}"

    assert run("db", "upgrade", env={"BUDGETBOT_DATABASE_URL": url}).exit_code == 0
    assert run("stories", env={"BUDGETBOT_DATABASE_URL": url}).output.startswith("no stories")


def test_heroku_style_postgres_urls_are_postgresql_with_psycopg():
    settings = load_settings({"database_url": "postgres://u:p@db.example:5432/ledger"})
    plain = load_settings({"database_url": "postgresql://u@db.example/ledger"})

    assert settings.database_url == "postgresql+psycopg://u:p@db.example:5432/ledger"
    assert plain.database_url == "postgresql+psycopg://u@db.example/ledger"


def test_a_postgresql_server_that_is_down_is_one_line_without_the_password():
    line = one_line_error(run("status", "PROJ-1",
                              env={"BUDGETBOT_DATABASE_URL": "postgres://me:s3cret@127.0.0.1:1/ledger"}))

    assert line.startswith("Error: cannot open the database at postgresql+psycopg://me:***@127.0.0.1:1/ledger")
    assert "s3cret" not in line


@pytest.mark.skipif(not PG_SERVER_URL, reason="needs the PostgreSQL test server")
def test_a_postgresql_database_that_does_not_exist_is_one_line():
    from sqlalchemy.engine import make_url

    url = make_url(PG_SERVER_URL).set(database="budgetbot_no_such_database")
    line = one_line_error(run("status", "PROJ-1", env={"BUDGETBOT_DATABASE_URL": url.render_as_string(False)}))

    assert "cannot open the database" in line and "budgetbot_no_such_database" in line


def test_a_price_file_with_a_word_for_a_rate_names_the_setting(tmp_path, cli):
    prices = tmp_path / "prices.toml"
    prices.write_text('[models.house-llm]\ninput_mtok = "cheap"\noutput_mtok = 1\n')

    line = one_line_error(cli("status", "PROJ-1", env={"BUDGETBOT_PRICES_FILE": str(prices)}))

    assert "BUDGETBOT_PRICES_FILE" in line and "models.house-llm.input_mtok = 'cheap' is not a number" in line


def test_an_unknown_budgetbot_variable_is_warned_about_with_the_closest_setting(cli, caplog):
    warnings = unknown_variables({"BUDGETBOT_SLACK_BOT_TOKEN": "xoxb-1", "BUDGETBOT_SLACK_TOKEN": "xoxb-1",
                                  "BUDGETBOT_TEST_DATABASE_URL": "x", "HOME": "/root"})
    result = cli("stories", env={"BUDGETBOT_SLACK_BOT_TOKEN": "xoxb-1"})

    assert warnings == ["BUDGETBOT_SLACK_BOT_TOKEN is not a budgetbot setting and is ignored; "
                        "did you mean BUDGETBOT_SLACK_TOKEN?"]
    assert result.exit_code == 0
    assert any("did you mean BUDGETBOT_SLACK_TOKEN?" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)  # on stderr outside pytest: see the clock test below


def test_a_dotenv_file_in_the_working_folder_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETBOT_ENV_FILE")
    (tmp_path / ".env").write_text("BUDGETBOT_PUBLIC_URL=https://from-dotenv.test\nBUDGETBOT_DRY_RUN=1\n")

    settings = load_settings()

    assert settings.public_url == "https://from-dotenv.test" and settings.dry_run is True
    monkeypatch.setenv("BUDGETBOT_PUBLIC_URL", "https://from-env.test")
    assert load_settings().public_url == "https://from-env.test"  # the environment wins


def test_ctrl_c_on_budgetbot_run_stops_the_clock_quietly_and_releases_the_lease(tmp_path):
    import signal

    url = f"sqlite:///{tmp_path / 'clock.sqlite3'}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")},
           "BUDGETBOT_DATABASE_URL": url, "BUDGETBOT_ENV_FILE": "", "PYTHONUNBUFFERED": "1",
           "BUDGETBOT_SLACK_BOT_TOKEN": "xoxb-typo"}
    assert run("db", "upgrade", env={"BUDGETBOT_DATABASE_URL": url}).exit_code == 0
    budgetbot = [sys.executable, "-c", "from bot.cli.main import main; main(prog_name='budgetbot')"]
    # Its own session, as a terminal's: Ctrl-C is SIGINT to run's group; run then sends the clock (in a group of
    # its own) SIGTERM. tests/test_run_signals.py sends it at each moment of the clock's start.
    child = subprocess.Popen([*budgetbot, "run", "--only", "clock"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, cwd=tmp_path, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    engine = make_engine(url)
    try:
        deadline, holder = time.monotonic() + 90, None
        while time.monotonic() < deadline and child.poll() is None:  # wait until the clock holds the lease
            with engine.connect() as connection:
                holder = connection.execute(text("SELECT holder FROM scrum_clock_lock")).scalar()
            if holder:
                break
            time.sleep(0.2)
        assert holder, "the clock never took its lease"
        clock_pid = int(re.search(r"clock \| started \(pid (\d+)\)", "".join(lines)).group(1))
        os.killpg(child.pid, signal.SIGINT)
        for _ in range(3):  # more signals (a second Ctrl-C, a `kill`) reaching the clock while it stops
            time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(clock_pid, signal.SIGTERM)
        child.wait(timeout=60)
        reader.join(timeout=10)
        output = "".join(lines)
        with engine.connect() as connection:
            released = connection.execute(text("SELECT holder FROM scrum_clock_lock")).scalar()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        engine.dispose()

    assert "Traceback" not in output and "SchedulerNotRunningError" not in output, output
    assert child.returncode == 0, output
    assert released is None  # the next clock acts at once instead of waiting out the lease
    assert "did you mean BUDGETBOT_SLACK_TOKEN?" in output  # the start-up warning, on stderr


def test_stopping_the_clock_twice_is_quiet_and_a_closed_clock_never_takes_the_lease_back(app, db):
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.processes.clock import build_scheduler, stop_quietly
    from bot.processes.tables import ClockLock

    scheduler = build_scheduler(app, BackgroundScheduler)
    clock = scheduler.budgetbot_clock
    assert clock.acquire()
    scheduler.start(paused=True)

    stop_quietly(scheduler)
    stop_quietly(scheduler)  # the old SIGTERM handler raised SchedulerNotRunningError here
    clock.close()

    assert not clock.acquire()  # a heartbeat still in flight cannot take it back
    with db.session_factory() as session:
        assert session.get(ClockLock, "clock").holder is None
