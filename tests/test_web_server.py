"""The web process as the Procfile starts it keeps answering while slow clients hold half-sent requests open."""

from __future__ import annotations

import time

from web_server_support import healthz, procfile_web, slow_requests


def test_healthz_answers_while_200_slow_requests_are_held_open(db_url):
    with procfile_web(db_url) as port, slow_requests(port, 200):
        time.sleep(0.5)  # let the server take them all in
        started = time.monotonic()
        status = healthz(port, timeout=10)
        answered_in = time.monotonic() - started

    assert status == 200
    assert answered_in < 10  # the timing itself is measured by bench/slow_clients.py


def test_budgetbot_run_production_serves_as_the_procfile_does():
    from web_server_support import procfile_web_command

    from bot.processes.supervisor import RunOptions, web_argv

    argv = web_argv(RunOptions("127.0.0.1", 8123, production=True))

    procfile = procfile_web_command().split()
    assert argv[1:3] == ["-m", "waitress"] and procfile[0] == "waitress-serve"
    options = lambda args: sorted(a for a in args if not a.startswith("--listen="))  # noqa: E731
    assert options(argv[3:]) == options(procfile[1:])
