"""Start the web process exactly as the Procfile's `web:` line says, and hold slow, half-sent requests open."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def procfile_web_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("the Procfile has no web: line")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def procfile_web(database_url: str, startup_seconds: float = 120.0) -> Iterator[int]:
    """The Procfile's web process on a free port of 127.0.0.1 (as a platform runs it: `sh -c` with PORT set).
    Startup is given long: importing the app takes seconds, and far longer on a loaded CI machine."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "BUDGETBOT_DATABASE_URL": database_url,
           "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The Procfile binds 0.0.0.0; the test only ever connects to loopback.
    process = subprocess.Popen(["sh", "-c", f"exec {procfile_web_command()}"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                healthz(port, timeout=1.0)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the web process did not start (exit code {process.poll()})") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def healthz(port: int, timeout: float) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
        return response.status


@contextlib.contextmanager
def slow_requests(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that each send half a request (a POST's headers, part of its body) and then stall."""
    sockets = []
    try:
        for i in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            path = ("/webhooks/github", "/api/v1/usage", "/api/v1/preflight")[i % 3]
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         f"Content-Length: 100000\r\n\r\n{{\"event_id\": \"".encode())
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()
