"""Benchmark: the retro over 500 stories and 1M events across 6 sprints on SQLite (target < 3 s), and memory
that does not grow with the number of events (100k vs 1M), plus the streamed export.

    .venv/bin/python bench/retro.py              # builds /tmp/budgetbot-bench-retro-*.sqlite3 (about a minute)
    .venv/bin/python bench/retro.py --reuse      # measure again on the databases already built
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bot.all_tables import metadata
from bot.db import Database
from bot.ledger.ingest import rebuild
from bot.ledger.pricing import Pricer
from bot.ledger.tables import Sprint, Story, UsageEvent

STORIES, SPRINTS, SPRINT_DAYS = 500, 6, 14
START = datetime(2026, 1, 5, tzinfo=UTC)
PROJECTS = {"WEB": ("web", "CC-100"), "API": ("platform", "CC-200"), "OPS": ("ops", "CC-300")}
MODELS = [("claude-sonnet-4-5", "anthropic", 40), ("claude-opus-4-1", "anthropic", 8), ("claude-haiku-4-5",
          "anthropic", 20), ("gpt-4o", "openai", 15), ("gpt-4o-mini", "openai", 12), ("local-llama", None, 5)]
AGENTS = ["claude-code", "codex", "aider", "reviewer-bot", "triage-bot"]
BATCH = 20_000


def db_path(events: int) -> Path:
    return Path(f"/tmp/budgetbot-bench-retro-{events}.sqlite3")


def sprint_start(index: int) -> datetime:
    return START + timedelta(days=index * SPRINT_DAYS)


def nano_rates(pricer: Pricer) -> dict[str, tuple[float, float, float] | None]:
    """Nano-dollars per token (input, cache read, output) per model, looked up once like the ledger does."""
    rates = {}
    for model, provider, _ in MODELS:
        found = pricer.rates(model, provider, START.date())
        if found is None:
            rates[model] = None
            continue
        base = {k: float(v.base) for k, v in found.rates.items()}
        # $/MTok x 1e9 nano / 1e6 tokens = x 1000 nano-dollars per token
        rates[model] = (base["input_mtok"] * 1000, base.get("cache_read_mtok", base["input_mtok"]) * 1000,
                        base["output_mtok"] * 1000)
    return rates


def build(events: int) -> None:
    path = db_path(events)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    metadata.create_all(db.engine)
    rng = random.Random(42)
    began = time.perf_counter()
    per_story = events / STORIES * 33_000  # about the tokens a story will get (31k in + 2k out per call)
    with db.transaction() as session:
        for index in range(SPRINTS):
            session.add(Sprint(name=f"Sprint {index + 1}", start_at=sprint_start(index),
                               end_at=sprint_start(index + 1)))
        for n in range(STORIES):
            project = list(PROJECTS)[n % 3]
            sprint = n % SPRINTS
            resolved = sprint_start(sprint) + timedelta(days=rng.randint(3, 16)) if rng.random() < 0.7 else None
            # Budgets from half to twice what the story will use: some pass, some overrun, a few fail.
            session.add(Story(key=f"{project}-{n + 1}", project=project, summary=f"Story {n + 1}",
                              sprint=f"Sprint {sprint + 1}", story_points=rng.choice([1, 2, 3, 5, 8]),
                              resolved_at=resolved, budget_tokens=int(per_story * rng.uniform(0.3, 2.0)),
                              budget_nano_usd=int(per_story * rng.uniform(1.5, 6)) if n % 4 == 0 else None))
    rates = nano_rates(Pricer())
    weights = [w for *_, w in MODELS]
    with db.transaction() as session:
        # Sprint by sprint, in time order: the ledger is append-only and fed live, so rows sit in the order
        # they happened (as they would in production; shuffled rows would make range scans random reads).
        first_id = 0
        for sprint in range(SPRINTS):
            stories = [s for s in range(STORIES) if s % SPRINTS == sprint]
            share = events // SPRINTS + (1 if sprint < events % SPRINTS else 0)
            rows = []
            for n in range(first_id, first_id + share):
                story = rng.choice(stories)
                project = list(PROJECTS)[story % 3]
                team, cost_center = PROJECTS[project]
                occurred = sprint_start(sprint) + timedelta(seconds=rng.randrange(SPRINT_DAYS * 86_400))
                model, provider, _ = rng.choices(MODELS, weights)[0]
                if model == "local-llama" and project != "OPS":  # only the ops team self-hosts a model
                    model, provider = "claude-haiku-4-5", "anthropic"
                inp, out = rng.randint(2_000, 60_000), rng.randint(100, 4_000)
                read = int(inp * rng.random() * 0.7)
                rate = rates[model]
                nano = round((inp - read) * rate[0] + read * rate[1] + out * rate[2]) if rate else 0
                rows.append({
                    "event_id": f"ev-{n}", "content_hash": "bench", "story_key": f"{project}-{story + 1}",
                    "occurred_at": occurred, "received_at": occurred, "agent": AGENTS[(story + n) % 5],
                    "model": model, "provider": provider, "run_id": f"run-{story}-{n // 25 % 40}",
                    "input_tokens": inp, "output_tokens": out, "cache_read_tokens": read, "cache_write_tokens": 0,
                    "reasoning_tokens": 0, "tool_calls": rng.randint(0, 5), "cost_nano_usd": nano,
                    "priced": rate is not None, "price_source": "genai-prices" if rate else "unpriced",
                    "outcome": "error" if rng.random() < 0.03 else "ok", "latency_ms": 800,
                    "attributes": {"team": team, "cost_center": cost_center}})
            first_id += share
            rows.sort(key=lambda row: row["occurred_at"])
            for first in range(0, len(rows), BATCH):
                session.execute(insert(UsageEvent), rows[first:first + BATCH])  # executemany
        rebuild(session)
    print(f"built {events:,} events in {time.perf_counter() - began:.1f} s: {path}")


def peak_rss_mib() -> float:
    """This process's peak resident set: VmHWM, which (unlike ru_maxrss) does not carry over from the parent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path, traced: bool) -> dict:
    """Run in a fresh process: time (or trace the memory of) the retro of the last sprint, and an export."""
    from bot.app import create_app
    from bot.app_pricer import get_pricer
    from bot.db import get_db
    from bot.reports.export import export_lines, reading_session
    from bot.reports.retro import render
    from bot.reports.retro.period import date_range, sprint_period
    from bot.reports.retro.report import build as build_report

    app = create_app({"database_url": f"sqlite:///{path}"})
    result: dict = {"rss_before_mib": peak_rss_mib()}
    with app.app_context(), reading_session(get_db().engine) as session:
        period = sprint_period(session, f"Sprint {SPRINTS}")
        if traced:
            tracemalloc.start()
        began = time.perf_counter()
        report = build_report(session, period, pricer=get_pricer(), warn_threshold=Decimal("0.8"))
        result["retro_s"] = time.perf_counter() - began
        began = time.perf_counter()
        for render_to in (render.to_json, render.to_markdown, render.to_html):
            render_to(report)
        result["render_s"] = time.perf_counter() - began
        if traced:
            result["retro_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.reset_peak()
        began = time.perf_counter()
        lines = sum(1 for _ in export_lines(session, date_range("2026-01-05", "2026-03-29"), "csv"))
        result["export_s"], result["export_lines"] = time.perf_counter() - began, lines
        if traced:
            result["export_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        result["events_in_sprint"] = report["headline"]["events"]
        result["trend"] = len(report["trend"])
    result["rss_peak_mib"] = peak_rss_mib()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="measure the databases already built")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.traced)))
        return
    sizes = (100_000, 1_000_000)
    for events in sizes:
        if not (args.reuse and db_path(events).exists()):
            build(events)
    print(f"{'events':>10} {'in sprint':>10} {'retro s':>8} {'render s':>9} {'peak RSS':>9} {'retro heap':>11} "
          f"{'export lines':>13} {'export s':>9} {'export heap':>12}")
    for events in sizes:
        runs = {}
        for traced in (False, True):
            out = subprocess.run([sys.executable, __file__, "--measure", str(db_path(events))]
                                 + (["--traced"] if traced else []), capture_output=True, text=True,
                                 env={**os.environ, "BUDGETBOT_LOG_LEVEL": "WARNING"}, check=True)
            runs[traced] = json.loads(out.stdout.strip().splitlines()[-1])
        fast, traced_run = runs[False], runs[True]
        print(f"{events:>10,} {fast['events_in_sprint']:>10,} {fast['retro_s']:>8.2f} {fast['render_s']:>9.2f} "
              f"{fast['rss_peak_mib']:>6.0f}Mi {traced_run['retro_peak_mib']:>9.1f}Mi "
              f"{fast['export_lines']:>13,} {fast['export_s']:>9.2f} {traced_run['export_peak_mib']:>10.1f}Mi")
    print("retro s: building the report (queries + figures) for the last sprint with a 5-sprint trend; "
          "render s: JSON + Markdown + HTML with the SVG chart. Heap: tracemalloc peak (Python objects); "
          "RSS: the process's peak, imports included. Target: retro < 3 s at 1M events.")


if __name__ == "__main__":
    main()
