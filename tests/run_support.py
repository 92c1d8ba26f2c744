"""`budgetbot run` as a real process: its output read as it comes, and waits bounded only to end a hang."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

# Starting three Python processes on a loaded machine can take far longer than any sleep would allow: the tests
# wait for what the processes say, and this bound only ends a hang.
STARTUP_SECONDS = 180.0
BUDGETBOT = "from bot.cli.main import main; main(prog_name='budgetbot')"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Output:
    """The child's output, read as it comes (so its pipe never fills), kept for the assertions."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def count(self, needle: str) -> int:
        with self.changed:
            return sum(needle in line for line in self.lines)

    def wait_for(self, needle: str, process: subprocess.Popen, times: int = 1) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        with self.changed:
            while sum(needle in line for line in self.lines) < times:
                assert process.poll() is None, "budgetbot run exited early:\n" + "".join(self.lines)
                assert time.monotonic() < deadline, f"no {needle!r} after {STARTUP_SECONDS:.0f} s:\n" + "".join(
                    self.lines)
                self.changed.wait(0.5)
