"""`budgetbot run`: web + worker in one command, saying up front when it only records (dry-run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from conftest import stamp_heads
from outbox_helpers import add, rows, test_senders
from run_support import STARTUP_SECONDS, Output, free_port

from bot.all_tables import metadata
from bot.app import create_app
from bot.components import registry
from bot.config import Settings
from bot.db import make_engine
from bot.processes.supervisor import Supervisor, banner


def dry_banner(settings: Settings) -> list[str]:
    return banner(settings, registry(create_app(settings)).dry_run_integrations(settings))


def test_banner_says_dry_run_when_nothing_is_configured():
    lines = dry_banner(Settings(database_url="postgresql+psycopg://bot:s3cret@db/budgetbot"))

    assert lines[0] == "database postgresql+psycopg://bot:***@db/budgetbot"  # never the password
    assert lines[1].startswith("DRY-RUN mode for github, jira")
    assert "budgetbot outbox list --dry-run" in lines[1]


def test_banner_names_the_dry_run_setting():
    assert "BUDGETBOT_DRY_RUN=1" in dry_banner(Settings(dry_run=True))[1]


def test_supervisor_prefixes_output_and_stops_the_others_when_one_exits():
    lines: list[str] = []
    code = Supervisor({
        "short": [sys.executable, "-c", "print('hello'); raise SystemExit(3)"],
        "long": [sys.executable, "-c", "import time; print('waiting', flush=True); time.sleep(60)"],
    }, out=lines.append).run()

    assert code == 3
    assert "short | hello" in lines and "long  | waiting" in lines
    assert "short | exited with code 3; stopping the others" in lines


def test_run_serves_the_web_and_drains_the_outbox_and_stops_on_sigterm(tmp_path, db):
    url = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    stamp_heads(engine)  # as `db upgrade` leaves it: every command checks the revision
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")}
    env.update(BUDGETBOT_DATABASE_URL=url, BUDGETBOT_OUTBOX_POLL_SECONDS="0.1")
    from bot.db import Database

    local = Database(url)
    add(local, kind="nobody.handles.this")  # the worker proves it ran by dead-lettering this row
    process = subprocess.Popen([sys.executable, "-c", "from bot.cli.main import main; main(prog_name='budgetbot')",
                                "run", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    output = Output(process)
    try:
        # Wait for what the processes say, not for a fixed time: on a loaded machine starting three Python
        # processes can take far longer than any sleep would allow. The bound is only there to end a hang.
        output.wait_for(f"Running on http://127.0.0.1:{port}", process)  # said once it listens
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=STARTUP_SECONDS) as response:
            health = response.read().decode()
        _wait_until(lambda: rows(local)[0].state == "dead", process)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STARTUP_SECONDS)
        output.reader.join(timeout=STARTUP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
        local.dispose()

    text = output.text()
    first_lines = text.splitlines()[:4]
    assert any("DRY-RUN mode for github, jira, slack" in line for line in first_lines), text
    assert '"depth":1' in health.replace(" ", "") or '"depth":0' in health.replace(" ", "")
    assert "worker | " in text and "web    | " in text
    assert "outbox worker" in text and "stopped" in text
    assert process.returncode == 0


def _wait_until(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not condition():
        assert process.poll() is None, "budgetbot run exited early"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_run_rejects_an_unknown_process(cli):
    result = cli("run", "--only", "clockwork")

    assert result.exit_code != 0 and "unknown process(es) clockwork; known: web, worker" in result.output
