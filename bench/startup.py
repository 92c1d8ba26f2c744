"""CLI start-up: `budgetbot --help` and `budgetbot status KEY` against a bare interpreter importing flask+sqlalchemy,
interleaved and repeated in the same run; prints min/median seconds and the ratio to that baseline."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

CLI = "from bot.cli.main import main; main(prog_name='budgetbot')"
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "BUDGETBOT_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "BUDGETBOT_ENV_FILE": ""}
        subprocess.run([sys.executable, "-c", CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", CLI, "budget", "set", "PROJ-1", "200k"], env=env, check=True,
                       capture_output=True)
        cases = {
            "baseline: import flask, sqlalchemy": [sys.executable, "-c", "import flask, sqlalchemy"],
            "budgetbot --help": [sys.executable, "-c", CLI, "--help"],
            "budgetbot status PROJ-1": [sys.executable, "-c", CLI, "status", "PROJ-1"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, argv in cases.items():  # interleaved: load on the machine hits every case alike
                times[name].append(timed(argv, env))
    base = statistics.median(times["baseline: import flask, sqlalchemy"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<38} min {min(values):.2f}s  median {median:.2f}s  x{median / base:.1f} of baseline")


if __name__ == "__main__":
    main()
