"""CLI start-up: `budgetbot --help` and `budgetbot status KEY`, as ratios to baselines measured in the same run.

The machine is shared and noisy, so absolute seconds say little: each round runs every case once, in a shuffled
order (load hits every case alike), and the figures are min and median over the rounds, each also divided by the
same statistic of the baselines:

- `python -c pass`: the interpreter alone, the floor of any command;
- `python -c "import flask"`: the framework the commands that build the app cannot avoid.

The goal (issue 17) is under 0.5 s for both commands on an idle laptop: about 10x `python -c pass` there.
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


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BUDGETBOT_")},
               "BUDGETBOT_DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "BUDGETBOT_ENV_FILE": ""}
        subprocess.run([sys.executable, "-c", CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", CLI, "budget", "set", "PROJ-1", "200k"], env=env, check=True,
                       capture_output=True)
        cases = {f"python -c '{code}'": [sys.executable, "-c", code] for code in BASELINES.values()}
        cases["budgetbot --help"] = [sys.executable, "-c", CLI, "--help"]
        cases["budgetbot status PROJ-1"] = [sys.executable, "-c", CLI, "status", "PROJ-1"]
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            order = list(cases)
            random.shuffle(order)
            for name in order:
                times[name].append(timed(cases[name], env))
    base = {column: times[f"python -c '{code}'"] for column, code in BASELINES.items()}
    print(f"start-up, {ROUNDS} rounds interleaved; x{{baseline}}: min over min and median over median")
    ratio_header = "".join(f" {'min x' + c:>11} {'med x' + c:>11}" for c in base)
    print(f"{'case':<28} {'min':>6} {'median':>7}{ratio_header}")
    for name, values in times.items():
        ratios = "".join(f" {min(values) / min(b):>11.1f} {statistics.median(values) / statistics.median(b):>11.1f}"
                         for b in base.values())
        print(f"{name:<28} {min(values):>5.2f}s {statistics.median(values):>6.2f}s{ratios}")


if __name__ == "__main__":
    main()
