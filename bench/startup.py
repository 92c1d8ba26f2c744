"""CLI start-up: `budgetbot --help` and `budgetbot status KEY`, as ratios to baselines measured in the same run.

The machine is shared and noisy, so absolute seconds say little: each round runs every case once, in a shuffled
order (load hits every case alike), and the figures are min and median over the rounds, each divided by the same
statistic of each baseline:

- `python -c pass`: the interpreter alone, the floor of any command;
- `python -c "import flask"`: the framework every command that builds the app loads.

Two clocks: wall time (what a user waits for) and the CPU time the process used (user + system, from wait4),
which a loaded machine disturbs far less. The goal (issue 17) is both commands under 0.5 s on an idle laptop.
`ROUNDS=20 python bench/startup.py` for steadier figures.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

CLI = "from bot.cli.main import main; main(prog_name='budgetbot')"
ROUNDS = int(os.environ.get("ROUNDS", "10"))
BASELINES = {"pass": "pass", "flask": "import flask"}  # column name -> the baseline's `python -c` code


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of argv."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{argv[-2:]} exited with {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def report(title: str, times: dict[str, list[float]], base: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    ratio_header = "".join(f" {'min x' + c:>11} {'med x' + c:>11}" for c in base)
    print(f"{'case':<28} {'min':>6} {'median':>7}{ratio_header}")
    for name, values in times.items():
        ratios = "".join(f" {min(values) / min(b):>11.1f} {statistics.median(values) / statistics.median(b):>11.1f}"
                         for b in base.values())
        print(f"{name:<28} {min(values):>5.2f}s {statistics.median(values):>6.2f}s{ratios}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        # Compiled modules are cached as after any install (a shell with PYTHONDONTWRITEBYTECODE would compile
        # budgetbot's own modules on every start, and time that), in the temporary folder, not in the repo.
        env = {**{k: v for k, v in os.environ.items()
                  if not k.startswith("BUDGETBOT_") and k != "PYTHONDONTWRITEBYTECODE"},
               "PYTHONPYCACHEPREFIX": f"{folder}/pycache",
               "BUDGETBOT_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "BUDGETBOT_ENV_FILE": ""}
        subprocess.run([sys.executable, "-c", CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", CLI, "budget", "set", "PROJ-1", "200k"], env=env, check=True,
                       capture_output=True)
        cases = {f"python -c '{code}'": [sys.executable, "-c", code] for code in BASELINES.values()}
        cases["budgetbot --help"] = [sys.executable, "-c", CLI, "--help"]
        cases["budgetbot status PROJ-1"] = [sys.executable, "-c", CLI, "status", "PROJ-1"]
        for argv in cases.values():  # warm: every module compiled and cached once before the timing
            timed(argv, env)
        wall: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            order = list(cases)
            random.shuffle(order)
            for name in order:
                seconds, used = timed(cases[name], env)
                wall[name].append(seconds)
                cpu[name].append(used)
    print(f"start-up, {ROUNDS} rounds interleaved; x{{baseline}}: min over min and median over median")
    for title, times in (("wall time", wall), ("CPU time (user + system)", cpu)):
        report(title, times, {column: times[f"python -c '{code}'"] for column, code in BASELINES.items()})


if __name__ == "__main__":
    main()
