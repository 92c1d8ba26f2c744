"""`budgetbot run` and signals, with real processes: Ctrl-C at any moment stops quietly and gives the clock's
lease back; SIGHUP reaches the children (the web process re-reads the policy file)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from run_support import BUDGETBOT, STARTUP_SECONDS, Output, free_port
from sqlalchemy import text

from bot.cli.main import main
from bot.db import make_engine
from bot.processes.supervisor import STOP_GRACE_SECONDS


def ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    assert CliRunner().invoke(main, ["db", "upgrade"], env={"BUDGETBOT_DATABASE_URL": url}).exit_code == 0
    return url


def start(url: str, *args: str, **settings: str) -> tuple[subprocess.Popen, Output]:
    """`budgetbot run ARGS` in a session of its own, as a terminal runs it: Ctrl-C is SIGINT to its group."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")},
           "BUDGETBOT_DATABASE_URL": url, "BUDGETBOT_ENV_FILE": "", "BUDGETBOT_TIMEZONE": "UTC",
           "PYTHONUNBUFFERED": "1", **settings}
    process = subprocess.Popen([sys.executable, "-c", BUDGETBOT, "run", *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return process, Output(process)


def lease_holder(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT holder FROM scrum_clock_lock")).scalar()
    finally:
        engine.dispose()


# What the clock says at each moment of its start: its jobs (the scheduler not started yet), APScheduler's
# "started" (its thread and the first heartbeat on their way), and the heartbeat that took the lease.
MOMENTS = {"before the scheduler starts": r"clock \| clock \S+ \(UTC\): ",
           "as the scheduler starts": r"clock \| .*Scheduler started",
           "once it holds the lease": r"clock \| .*is now the one acting"}


@pytest.mark.parametrize("moment", MOMENTS)
def test_ctrl_c_at_any_moment_stops_the_clock_at_once_and_gives_its_lease_back(tmp_path, moment):
    url = ledger(tmp_path)
    process, output = start(url, "--only", "clock")
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not re.search(MOMENTS[moment], output.text()):
            assert process.poll() is None and time.monotonic() < deadline, output.text()
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        began = time.monotonic()
        process.wait(timeout=STARTUP_SECONDS)
        took = time.monotonic() - began
        output.reader.join(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    said = output.text()
    assert process.returncode == 0, said
    assert "Traceback" not in said and "SchedulerNotRunningError" not in said, said
    assert "killed" not in said and took < STOP_GRACE_SECONDS, said  # it stopped by itself, not at the deadline
    assert "lease released" in said
    assert lease_holder(url) is None  # the next clock acts at once instead of waiting out the lease


def preflight(port: int, token: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/preflight", method="POST",
        data=json.dumps({"story": "PROJ-1", "agent": "coder", "run_id": "r-1"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_to_run_reaches_the_web_process_which_rereads_the_policy(tmp_path):
    url = ledger(tmp_path)
    made = CliRunner().invoke(main, ["token", "create", "agent"], env={"BUDGETBOT_DATABASE_URL": url})
    token = made.stdout.splitlines()[0]
    policy = tmp_path / "policy.toml"
    policy.write_text("[run]\nmax_tokens = 1000\n")
    port = free_port()
    process, output = start(url, "--port", str(port), BUDGETBOT_POLICY_FILE=str(policy))
    try:
        output.wait_for(f"Running on http://127.0.0.1:{port}", process)
        output.wait_for("outbox worker", process)
        output.wait_for("is now the one acting", process)
        before = preflight(port, token)["remaining"]["run"]["tokens"]
        # The same size and modification time: only the SIGHUP can tell the web process the file changed.
        stamp = policy.stat()
        policy.write_text("[run]\nmax_tokens = 2000\n")
        os.utime(policy, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        assert (policy.stat().st_mtime_ns, policy.stat().st_size) == (stamp.st_mtime_ns, stamp.st_size)

        os.kill(process.pid, signal.SIGHUP)  # to `budgetbot run` alone, as `kill -HUP <pid>` does
        output.wait_for("SIGHUP: passed on", process)
        deadline, after = time.monotonic() + 30, before
        while after == before and time.monotonic() < deadline:  # the signal reaches the web process soon after
            time.sleep(0.1)
            after = preflight(port, token)["remaining"]["run"]["tokens"]
        still_running = process.poll() is None and "exited with code" not in output.text()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STARTUP_SECONDS)
        output.reader.join(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    said = output.text()
    assert (before, after) == (1000, 2000), said
    assert "guardrail policy reloaded" in said
    assert still_running, said  # the worker and the clock took the SIGHUP too, and went on
    assert process.returncode == 0 and "Traceback" not in said, said
