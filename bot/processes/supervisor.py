"""`budgetbot run`: the Procfile's processes (web, worker and clock) in one terminal."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import make_url

log = logging.getLogger("bot.run")
STOP_GRACE_SECONDS = 10.0
BUDGETBOT = "from bot.cli.main import main; main(prog_name='budgetbot')"


@dataclass(frozen=True)
class RunOptions:
    host: str
    port: int
    production: bool  # serve as the Procfile does (waitress), not with the development server


def budgetbot_argv(*args: str) -> list[str]:
    """A `budgetbot ...` command run by this same Python (so the virtualenv need not be on PATH)."""
    return [sys.executable, "-c", BUDGETBOT, *args]


def web_argv(options: RunOptions) -> list[str]:
    """The web process: waitress as the Procfile runs it, or the development server."""
    if options.production:
        return [sys.executable, "-m", "waitress", f"--listen={options.host}:{options.port}", "--threads=8",
                "--connection-limit=1000", "--channel-timeout=30", "--asyncore-use-poll",
                "--max-request-body-size=10485760", "--call", "bot.app:create_app"]  # the Procfile's web: options
    return budgetbot_argv("serve", "--host", options.host, "--port", str(options.port))




def follow_port(settings, host: str, port: int) -> None:
    """Unless BUDGETBOT_PUBLIC_URL is set (environment or .env), the links the processes write point at the port
    `budgetbot run` serves on (`make run PORT=8101`)."""
    if "public_url" not in settings.model_fields_set:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        os.environ["BUDGETBOT_PUBLIC_URL"] = settings.public_url = f"http://{shown}:{port}"


class Supervisor:
    """Start each process with its output prefixed by its name; stop them all when one stops or on a signal.

    Each child runs in a process group of its own, so a terminal's Ctrl-C reaches only this process, which stops
    each child once (SIGTERM; a second Ctrl-C sends another, and the worker then stops at once). In the terminal's
    group a child got the SIGINT and this SIGTERM together, a race that once left the clock's lease taken and cut
    the worker's row in hand short. SIGHUP is passed on: each process re-reads the policy file.
    """

    def __init__(self, commands: dict[str, list[str]], out: Callable[[str], None] = print) -> None:
        self.commands, self.out = commands, out
        self.children: dict[str, subprocess.Popen] = {}
        self.pumps: list[threading.Thread] = []
        self.stop = threading.Event()
        self.width = max((len(name) for name in commands), default=0)

    def run(self) -> int:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        code = 0
        try:
            for name, argv in self.commands.items():
                if self.stop.is_set():
                    break
                # stdin: a process group other than the terminal's would be stopped if it read from it.
                child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, env=env, process_group=0)
                self.children[name] = child
                self.pumps.append(threading.Thread(target=self._pump, args=(name, child), daemon=True))
                self.pumps[-1].start()
                self.out(f"{name:<{self.width}} | started (pid {child.pid})")
            while not self.stop.is_set():
                exited = [(name, c.returncode) for name, c in self.children.items() if c.poll() is not None]
                if exited:
                    name, code = exited[0]
                    self.out(f"{name:<{self.width}} | exited with code {code}; stopping the others")
                    break
                self.stop.wait(0.2)
        finally:  # whatever stopped this loop, no child is left running on its own
            self._terminate()
        return code

    def send(self, signum: int) -> None:
        """Pass a signal to every child still running."""
        for child in list(self.children.values()):
            if child.poll() is None:
                child.send_signal(signum)

    def _pump(self, name: str, child: subprocess.Popen) -> None:
        for line in child.stdout or ():
            self.out(f"{name:<{self.width}} | {line.rstrip()}")

    def _terminate(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()  # SIGTERM: the worker finishes its row in hand, the web server stops
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in self.children.items():
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.out(f"{name:<{self.width}} | did not stop in {STOP_GRACE_SECONDS:.0f}s; killed")
                child.kill()
                child.wait()
        for pump in self.pumps:  # the last lines (the clock's "lease released") are shown before run exits
            pump.join(timeout=2)

    def handle_signals(self) -> None:
        def stop(signum, _frame):
            if self.stop.is_set():  # the second one: the children are stopping already; now they stop at once
                self.out(f"{'run':<{self.width}} | {signal.Signals(signum).name} again: stopping at once")
                self.send(signal.SIGTERM)
                return
            self.out(f"{'run':<{self.width}} | {signal.Signals(signum).name}: stopping")
            self.stop.set()

        def reload(signum, _frame):
            self.out(f"{'run':<{self.width}} | SIGHUP: passed on (the policy file is re-read)")
            self.send(signal.SIGHUP)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, reload)


def banner(settings, dry: list[str]) -> list[str]:
    """The first log lines of `budgetbot run`: what runs where, and whether anything is really sent
    (`dry`: the integrations that only record their requests)."""
    lines = [f"database {make_url(settings.database_url).render_as_string(hide_password=True)}"]
    if settings.dry_run:
        lines.append("DRY-RUN mode (BUDGETBOT_DRY_RUN=1): nothing is sent to Jira, GitHub or Slack; the worker "
                     "records each request it would make (see `budgetbot outbox list --dry-run`)")
    elif dry:
        lines.append(f"DRY-RUN mode for {', '.join(dry)}: no credentials configured, so the worker records each "
                     "request it would make instead of sending it (see `budgetbot outbox list --dry-run`)")
    return lines
