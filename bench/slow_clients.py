"""Slow-client benchmark: /healthz latency of the web process as the Procfile starts it, idle vs. under slowloris.

    python bench/slow_clients.py                 # 200 slow connections, 5 rounds
    python bench/slow_clients.py --slow 500 --rounds 7

Each round, interleaved: (a) baseline — 20 GETs /healthz on an idle server; (b) the same 20 GETs while N
connections each hold a half-sent POST (headers and a few body bytes, then nothing). Prints min/median of
each and the ratio b/a. Target: every answer under b within one second (a server that hands a thread to each
half-sent request stalls instead: the Procfile's former gunicorn sync workers blocked at 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from web_server_support import healthz, procfile_web, slow_requests

from bot.all_tables import metadata
from bot.db import make_engine


def timed_gets(port: int, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        assert healthz(port, timeout=10) == 200
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gets", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        engine = make_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        idle, loaded = [], []
        with procfile_web(url) as port:
            for _ in range(args.rounds):
                idle += timed_gets(port, args.gets)
                with slow_requests(port, args.slow):
                    time.sleep(0.3)
                    loaded += timed_gets(port, args.gets)
    ms = lambda seconds: f"{seconds * 1000:7.1f} ms"  # noqa: E731
    print(f"/healthz, {args.rounds} rounds x {args.gets} GETs, web process as in the Procfile")
    print(f"  idle:                  min {ms(min(idle))}  median {ms(statistics.median(idle))}  "
          f"max {ms(max(idle))}")
    print(f"  {args.slow} slow connections: min {ms(min(loaded))}  median {ms(statistics.median(loaded))}  "
          f"max {ms(max(loaded))}")
    print(f"  ratio slow/idle:       min {min(loaded) / min(idle):.2f}x  "
          f"median {statistics.median(loaded) / statistics.median(idle):.2f}x")
    print(f"  every answer under 1 s: {'yes' if max(loaded) < 1.0 else 'NO'}")


if __name__ == "__main__":
    main()
