"""Benchmark: the retro of the last of 6 sprints (500 stories) on SQLite at 1M and 5M events. It reads rollups,
so its time must be flat in the number of events: printed as the ratio 5M / 1M, and as the ratio to the daily
digest over the same data (which reads rollups too), measured in the same process, interleaved and repeated.

    .venv/bin/python bench/retro.py              # builds /tmp/budgetbot-bench-retro-{1M,5M}.sqlite3 (minutes)
    .venv/bin/python bench/retro.py --reuse      # measure again on the databases already built
    .venv/bin/python bench/retro.py --reuse --export   # also the streamed CSV export of every event

Building: the events are bulk-inserted in time order (sqlite3 executemany, as an append-only ledger fills), and
the story totals and every rollup are summed while they are generated and inserted once, as ingest would have
kept them. `--check` builds a small ledger that way and proves the ledger's and the retro's rebuilds change
nothing (rebuilding 5M events takes far longer than summing them on the way).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, update

from bot.all_tables import metadata
from bot.db import Database, table_of
from bot.ledger.ingest import rebuild as rebuild_totals
from bot.ledger.pricing import Pricer
from bot.ledger.rollups import rebuild as rebuild_rollups
from bot.ledger.tables import AgentDay, RunStat, Sprint, Story, StoryDay, UsageDay, UsageEvent
from bot.reports.retro.rollup import cells
from bot.reports.retro.rollup import rebuild as rebuild_retro
from bot.reports.retro.rollup import write as write_retro
from bot.reports.retro.tables import RetroDay

SIZES = {"1M": 1_000_000, "5M": 5_000_000}
STORIES, SPRINTS, SPRINT_DAYS = 500, 6, 14
START = datetime(2026, 1, 5, tzinfo=UTC)
NOW = START + timedelta(days=(SPRINTS - 1) * SPRINT_DAYS + 12, hours=8)  # day 13 of the last sprint
PROJECTS = {"WEB": ("web", "CC-100"), "API": ("platform", "CC-200"), "OPS": ("ops", "CC-300")}
MODELS = [("claude-sonnet-4-5", "anthropic", 40), ("claude-opus-4-1", "anthropic", 8), ("claude-haiku-4-5",
          "anthropic", 20), ("gpt-4o", "openai", 15), ("gpt-4o-mini", "openai", 12), ("local-llama", None, 5)]
AGENTS = ["claude-code", "codex", "aider", "reviewer-bot", "triage-bot"]
BATCH = 20_000
STORED = {"occurred_at": "occurred_text", "received_at": "occurred_text", "attributes": "attributes_text"}
ATTRIBUTES = {project: {"team": team, "cost_center": cost_center} for project, (team, cost_center) in PROJECTS.items()}
ATTRIBUTES_TEXT = {project: json.dumps(attributes) for project, attributes in ATTRIBUTES.items()}


def db_path(label: str) -> Path:
    return Path(f"/tmp/budgetbot-bench-retro-{label}.sqlite3")


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


def build(label: str) -> None:
    events, path = SIZES[label], db_path(label)
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
    sums = LedgerSums()
    columns = [c.name for c in table_of(UsageEvent).c if c.name != "id"]
    insert_sql = f"INSERT INTO usage_events ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    # Each column's value as SQLAlchemy stores it on SQLite: times as naive UTC text, JSON as text (_event).
    stored = itemgetter(*(STORED.get(name, name) for name in columns))
    with db.engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()  # sqlite3's executemany: no per-row ORM cost
        # Sprint by sprint, in time order: the ledger is append-only and fed live, so rows sit in the order
        # they happened (as they would in production; shuffled rows would make range scans random reads).
        first_id = 0
        for sprint in range(SPRINTS):
            stories = [s for s in range(STORIES) if s % SPRINTS == sprint]
            share = events // SPRINTS + (1 if sprint < events % SPRINTS else 0)
            seconds = sorted(rng.randrange(SPRINT_DAYS * 86_400) for _ in range(share))
            for chunk in range(0, share, BATCH):
                rows = [_event(rng, n, stories, sprint_start(sprint) + timedelta(seconds=second), rates, weights)
                        for n, second in enumerate(seconds[chunk:chunk + BATCH], start=first_id + chunk)]
                sums.add(rows)
                cursor.executemany(insert_sql, [stored(row) for row in rows])
            first_id += share
    with db.transaction() as session:
        sums.write(session)
    db.dispose()
    print(f"built {events:,} events and their rollups in {time.perf_counter() - began:.0f} s: {path}", flush=True)


class LedgerSums:
    """What ingest would have added to the story totals and every rollup for these events, in time order (the
    ledger's rules: team days in UTC, models by family, a run's latest story/agent/model and its error streaks).
    `--check` proves it equal to the ledger's and the retro's own rebuilds."""

    def __init__(self) -> None:
        self.stories: dict[str, list] = {}
        self.story_days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.usage_days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.agent_days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.runs: dict[str, dict] = {}
        self.retro: dict = {}

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            key, agent, occurred = row["story_key"], row["agent"], row["occurred_at"]
            day, nano, tools = occurred.date(), row["cost_nano_usd"], row["tool_calls"]
            tokens = row["input_tokens"] + row["output_tokens"]
            unpriced, error = 0 if row["priced"] else 1, row["outcome"] == "error"
            story = self.stories.get(key)
            if story is None:
                story = self.stories[key] = [0, 0, 0, 0, occurred, occurred]
            story[0] += tokens
            story[1] += nano
            story[2] += 1
            story[3] += unpriced
            story[5] = occurred
            sums = self.story_days[(key, day)]
            sums[0] += tokens
            sums[1] += nano
            sums[2] += 1
            sums[3] += unpriced
            sums = self.usage_days[(day, key, agent, row["model"].strip().lower())]
            sums[0] += tokens
            sums[1] += nano
            sums[2] += 1
            sums[3] += error
            sums[4] += tools
            sums = self.agent_days[(day, agent)]
            sums[0] += tokens
            sums[1] += nano
            sums[2] += 1
            run = self.runs.get(row["run_id"])
            if run is None:
                run = self.runs[row["run_id"]] = {
                    "run_id": row["run_id"], "first_event_at": occurred, "nano_usd": 0, "tokens": 0, "events": 0,
                    "tool_calls": 0, "errors": 0, "errors_since_ok": 0, "max_error_streak": 0}
            run["story_key"], run["agent"], run["model"], run["last_event_at"] = key, agent, row["model"], occurred
            run["nano_usd"] += nano
            run["tokens"] += tokens
            run["events"] += 1
            run["tool_calls"] += tools
            run["errors"] += error
            run["errors_since_ok"] = run["errors_since_ok"] + 1 if error else 0
            run["max_error_streak"] = max(run["max_error_streak"], run["errors_since_ok"])
        cells(rows, ZoneInfo("UTC"), self.retro)

    def write(self, session) -> None:
        now = datetime.now(UTC)
        stories = table_of(Story)
        session.execute(update(stories).where(stories.c.key == bindparam("k")).values(
            spent_tokens=bindparam("t"), spent_nano_usd=bindparam("n"), events=bindparam("e"),
            unpriced_events=bindparam("u"), first_event_at=bindparam("f"), last_event_at=bindparam("l"),
            updated_at=now),
            [{"k": key, "t": t, "n": n, "e": e, "u": u, "f": f, "l": last}
             for key, (t, n, e, u, f, last) in self.stories.items()])
        session.execute(insert(StoryDay), [
            {"story_key": key, "day": day, "tokens": t, "nano_usd": n, "events": e, "unpriced_events": u}
            for (key, day), (t, n, e, u) in self.story_days.items()])
        session.execute(insert(UsageDay), [
            {"day": day, "story_key": key, "agent": agent, "model": model, "tokens": t, "nano_usd": n, "events": e,
             "errors": errors, "tool_calls": tools}
            for (day, key, agent, model), (t, n, e, errors, tools) in self.usage_days.items()])
        session.execute(insert(AgentDay), [{"day": day, "agent": agent, "tokens": t, "nano_usd": n, "events": e}
                                           for (day, agent), (t, n, e) in self.agent_days.items()])
        session.execute(insert(RunStat), list(self.runs.values()))
        write_retro(session, self.retro)


def check() -> None:
    """Build a small ledger the bench's way, then let the ledger's and the retro's rebuilds recompute every rollup
    from its events: nothing may change."""
    label = "check"
    SIZES[label] = 120_000
    build(label)
    db = Database(f"sqlite:///{db_path(label)}")
    with db.transaction() as session:
        before = snapshot(session)
        rebuild_totals(session)
        rebuild_rollups(session)
        rebuild_retro(session)
        session.flush()
        after = snapshot(session)
    db.dispose()
    differ = [name for name in before if before[name] != after[name]]
    print("rollups as built equal the ledger's rebuild: " + ("yes" if not differ else f"NO, {differ} differ")
          + ", " + ", ".join(f"{name} {len(rows):,} rows" for name, rows in before.items()))
    if differ:
        sys.exit(1)


def snapshot(session) -> dict[str, list]:
    story_columns = (Story.key, Story.spent_tokens, Story.spent_nano_usd, Story.events, Story.unpriced_events,
                     Story.first_event_at, Story.last_event_at)
    found = {"stories": sorted(tuple(row) for row in session.execute(select(*story_columns)))}
    for table in (StoryDay, UsageDay, AgentDay, RunStat, RetroDay):
        found[table.__tablename__] = sorted(tuple(row) for row in session.execute(select(table_of(table))))
    return found


def _event(rng: random.Random, n: int, stories: list[int], occurred: datetime, rates: dict, weights: list) -> dict:
    story = rng.choice(stories)
    project = list(PROJECTS)[story % 3]
    model, provider, _ = rng.choices(MODELS, weights)[0]
    if model == "local-llama" and project != "OPS":  # only the ops team self-hosts a model
        model, provider = "claude-haiku-4-5", "anthropic"
    inp, out = rng.randint(2_000, 60_000), rng.randint(100, 4_000)
    read = int(inp * rng.random() * 0.7)
    rate = rates[model]
    nano = round((inp - read) * rate[0] + read * rate[1] + out * rate[2]) if rate else 0
    # Zero-padded ids: the ledger orders events of one second by event_id, as they were generated.
    return {
        "event_id": f"ev-{n:08d}", "content_hash": "bench", "story_key": f"{project}-{story + 1}",
        "occurred_at": occurred, "received_at": occurred, "agent": AGENTS[(story + n) % 5],
        "model": model, "model_family": None, "provider": provider, "run_id": f"run-{story}-{n // 25 % 40}",
        "input_tokens": inp, "output_tokens": out, "cache_read_tokens": read, "cache_write_tokens": 0,
        "reasoning_tokens": 0, "tool_calls": rng.randint(0, 5), "cost_nano_usd": nano,
        "priced": rate is not None, "price_source": "genai-prices" if rate else "unpriced",
        "outcome": "error" if rng.random() < 0.03 else "ok", "latency_ms": 800,
        "attributes": ATTRIBUTES[project], "reservation_id": None,
        "occurred_text": occurred.strftime("%Y-%m-%d %H:%M:%S.000000"), "attributes_text": ATTRIBUTES_TEXT[project]}


def peak_rss_mib() -> float:
    """This process's peak resident set: VmHWM, which (unlike ru_maxrss) does not carry over from the parent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_app(label: str):
    from bot.app import create_app

    return create_app({"database_url": f"sqlite:///{db_path(label)}", "log_level": "WARNING"})


def retro(app) -> dict:
    from bot.app_pricer import get_pricer
    from bot.db import get_db
    from bot.reports.export import reading_session
    from bot.reports.retro.period import sprint_period
    from bot.reports.retro.report import build as build_report

    settings = app.config["SETTINGS"]
    with app.app_context(), reading_session(get_db(app).engine) as session:
        return build_report(session, sprint_period(session, f"Sprint {SPRINTS}"), pricer=get_pricer(),
                            warn_threshold=Decimal("0.8"), zone=settings.timezone)


def digest(app) -> object:
    from bot.db import get_db
    from bot.reports.scrum.digest import build as build_digest
    from bot.reports.scrum.digest_data import load

    with app.app_context(), get_db(app).session_factory() as session:
        return build_digest(load(session, app.config["SETTINGS"], NOW))


def timed(fn, app) -> float:
    began = time.perf_counter()
    fn(app)
    return time.perf_counter() - began


def compare(repeat: int) -> None:
    """Retro and digest at every size, interleaved in one process (the same machine load for all), repeated."""
    apps = {label: make_app(label) for label in SIZES}
    for app in apps.values():  # warm: imports, the pricer, the page cache
        retro(app)
        digest(app)
    times: dict[tuple[str, str], list[float]] = {(label, what): [] for label in SIZES for what in ("retro", "digest")}
    for _ in range(repeat):
        for label, app in apps.items():
            times[(label, "retro")].append(timed(retro, app))
            times[(label, "digest")].append(timed(digest, app))
    summary = {key: (min(values), statistics.median(values)) for key, values in times.items()}
    print(f"\n{'events':>7} {'retro min/med s':>16} {'digest min/med s':>17} {'retro/digest min/med':>21}")
    for label in SIZES:
        (r_min, r_med), (d_min, d_med) = summary[(label, "retro")], summary[(label, "digest")]
        print(f"{label:>7} {r_min:>7.3f} / {r_med:<6.3f} {d_min:>8.3f} / {d_med:<6.3f} "
              f"{r_min / d_min:>10.2f}x / {r_med / d_med:.2f}x")
    small, big = list(SIZES)
    for what in ("retro", "digest"):
        (b_min, b_med), (s_min, s_med) = summary[(big, what)], summary[(small, what)]
        print(f"{what} {big}/{small}: {b_min / s_min:.2f}x min, {b_med / s_med:.2f}x median  (flat = 1.0x)")
    print(f"({repeat} rounds, each: retro and digest at {', '.join(SIZES)} in turn; target retro < 1 s, goal 0.3 s)")
    for app in apps.values():
        from bot.db import get_db

        get_db(app).dispose()


def memory(label: str, with_export: bool) -> dict:
    """In a fresh process: the retro's Python heap peak (tracemalloc) and the process's peak RSS."""
    from bot.reports.retro import render

    app = make_app(label)
    result: dict = {"rss_before_mib": peak_rss_mib()}
    tracemalloc.start()
    began = time.perf_counter()
    report = retro(app)
    result["traced_retro_s"] = time.perf_counter() - began
    result["retro_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    began = time.perf_counter()
    for render_to in (render.to_json, render.to_markdown, render.to_html):
        render_to(report)
    result["render_s"] = time.perf_counter() - began
    result["events_in_sprint"] = report["headline"]["events"]
    result["trend"] = len(report["trend"])
    if with_export:
        from bot.db import get_db
        from bot.reports.export import export_lines, reading_session
        from bot.reports.retro.period import date_range

        tracemalloc.start()
        began = time.perf_counter()
        with app.app_context(), reading_session(get_db(app).engine) as session:
            last = (sprint_start(SPRINTS) - timedelta(days=1)).date().isoformat()
            result["export_lines"] = sum(1 for _ in export_lines(session, date_range(START.date().isoformat(), last),
                                                                 "csv"))
        result["export_s"] = time.perf_counter() - began
        result["export_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    result["rss_peak_mib"] = peak_rss_mib()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="measure the databases already built")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--export", action="store_true", help="also time the streamed CSV export of every event")
    parser.add_argument("--check", action="store_true", help="prove the bench's rollups equal the ledger's rebuild")
    parser.add_argument("--memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check()
        return
    if args.memory:
        print(json.dumps(memory(args.memory, args.export)))
        return
    for label in SIZES:
        if not (args.reuse and db_path(label).exists()):
            build(label)
    compare(args.repeat)
    print(f"\n{'events':>7} {'in sprint':>10} {'trend':>6} {'render s':>9} {'peak RSS':>9} {'retro heap':>11}"
          + (f" {'export lines':>13} {'export s':>9} {'export heap':>12}" if args.export else ""))
    for label in SIZES:
        out = subprocess.run([sys.executable, __file__, "--memory", label] + (["--export"] if args.export else []),
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "BUDGETBOT_LOG_LEVEL": "WARNING"})
        m = json.loads(out.stdout.strip().splitlines()[-1])
        line = (f"{label:>7} {m['events_in_sprint']:>10,} {m['trend']:>6} {m['render_s']:>9.2f} "
                f"{m['rss_peak_mib']:>6.0f}Mi {m['retro_peak_mib']:>9.1f}Mi")
        if args.export:
            line += f" {m['export_lines']:>13,} {m['export_s']:>9.1f} {m['export_peak_mib']:>10.1f}Mi"
        print(line)
    print("retro: the report of the last sprint with its 5-sprint trend (queries + figures); digest: load + build of "
          "the daily digest on day 13 of that sprint. render s: JSON + Markdown + HTML. Heap: tracemalloc peak of "
          "the retro; RSS: the process's peak, imports included.")


if __name__ == "__main__":
    main()
