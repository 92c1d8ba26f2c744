"""OTLP benchmark: Claude Code log records/s through POST /v1/logs vs the same calls through /api/v1/usage.

    python bench/otel.py                        # SQLite (temporary file)
    python bench/otel.py --postgres URL         # also PostgreSQL (its tables are dropped and recreated!)
    python bench/otel.py --rounds 8 --batches 4

Each round sends `batches` protobuf exports of 512 api_request records (the SDK's default batch) and the
same calls as `batches` JSON batches of normalized events, request by request and alternating which goes
first, on one growing ledger; the ratio (OTLP rate / usage-API rate) is printed per round with its min
and median, by wall clock and by this process's CPU time (which other load on the machine does not skew).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db
from bot.web.auth import create_token

BATCH = 512
RESOURCES_PER_EXPORT = 8  # one agent process (and story) per resource, as a collector would merge them
T0 = 1_795_000_000_000_000_000
MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]


def call(i: int) -> dict:
    """The i-th model call: Claude Code's raw attributes and the story/run it belongs to."""
    return {"i": i, "story": f"PROJ-{i // 64 % 500 + 1}", "session": f"sess-{i // 64}", "model": MODELS[i % 3],
            "input": 1000 + i % 4000, "output": 100 + i % 900, "read": 20000 + i % 7000, "write": i % 2000,
            "duration": 900 + i % 3000, "cost": f"{0.01 + (i % 100) / 1000:.4f}"}


def _kv(key: str, value) -> KeyValue:
    pair = KeyValue(key=key)
    if isinstance(value, int):
        pair.value.int_value = value
    else:
        pair.value.string_value = value
    return pair


def otlp_body(calls: list[dict]) -> bytes:
    request = ExportLogsServiceRequest()
    per = len(calls) // RESOURCES_PER_EXPORT
    for start in range(0, len(calls), per):
        group = calls[start:start + per]
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.extend([
            _kv("service.name", "claude-code"), _kv("service.version", "2.1.0"), _kv("os.type", "linux"),
            _kv("jira.issue.key", group[0]["story"]), _kv("team", "payments")])
        records = resource_logs.scope_logs.add()
        records.scope.name = "com.anthropic.claude_code.events"
        for c in group:
            record = records.log_records.add()
            record.time_unix_nano = record.observed_time_unix_nano = T0 + c["i"] * 1_000_000
            record.body.string_value = "claude_code.api_request"
            record.attributes.extend([
                _kv("event.name", "api_request"), _kv("event.timestamp", "2026-11-18T10:00:00.000Z"),
                _kv("event.sequence", c["i"]), _kv("session.id", c["session"]), _kv("prompt.id", "p-1"),
                _kv("user.account_uuid", "acct-1"), _kv("terminal.type", "tmux"), _kv("model", c["model"]),
                _kv("cost_usd", c["cost"]), _kv("duration_ms", str(c["duration"])),
                _kv("input_tokens", str(c["input"])), _kv("output_tokens", str(c["output"])),
                _kv("cache_read_tokens", str(c["read"])), _kv("cache_creation_tokens", str(c["write"])),
                _kv("request_id", f"req_{c['i']:010d}")])
    return request.SerializeToString()


def usage_body(calls: list[dict]) -> bytes:
    """The same calls as /api/v1/usage events, normalized the way the OTLP receiver stores them."""
    events = [{"event_id": f"usage-{c['i']}", "story": c["story"], "model": c["model"], "provider": "anthropic",
               "agent": "claude-code", "run_id": c["session"],
               "occurred_at": datetime.fromtimestamp((T0 + c["i"] * 1_000_000) / 1e9, UTC).isoformat(),
               "latency_ms": c["duration"], "input_tokens": c["input"] + c["read"] + c["write"],
               "output_tokens": c["output"], "cache_read_tokens": c["read"], "cache_write_tokens": c["write"],
               "attributes": {"team": "payments", "client_cost_usd": c["cost"], "source": "bench"}}
              for c in calls]
    return json.dumps({"events": events}).encode()


def run(label: str, url: str, rounds: int, batches: int) -> None:
    app = create_app({"database_url": url, "log_level": "WARNING", "max_body_bytes": 4 * 2**20})
    engine = get_db(app).engine
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with get_db(app).transaction() as session:
        secret = create_token(session, "bench")
    client = app.test_client()
    otlp_headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-protobuf"}
    usage_headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    per_round = batches * BATCH

    def post(path: str, body: bytes, headers: dict) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == 200, response.data[:300]
        return time.perf_counter() - wall, time.process_time() - cpu

    wall_ratios, cpu_ratios, otlp_rates, usage_rates = [], [], [], []
    for r in range(rounds + 1):  # round 0 warms caches (pricing lookups, prepared statements) and is not kept
        first = r * per_round
        chunks = [[call(i) for i in range(first + b * BATCH, first + (b + 1) * BATCH)] for b in range(batches)]
        spent = {"otlp": [0.0, 0.0], "usage": [0.0, 0.0]}
        # Request by request, alternating which path goes first: a burst of load on this shared machine
        # then hits both paths alike instead of one round of one path.
        for b, chunk in enumerate(chunks):
            pair = [("otlp", "/v1/logs", otlp_body(chunk), otlp_headers),
                    ("usage", "/api/v1/usage", usage_body(chunk), usage_headers)]
            for name, path, body, headers in pair if (r + b) % 2 else pair[::-1]:
                wall, cpu = post(path, body, headers)
                spent[name][0] += wall
                spent[name][1] += cpu
        if not r:
            continue
        otlp_rate, usage_rate = per_round / spent["otlp"][0], per_round / spent["usage"][0]
        wall_ratios.append(otlp_rate / usage_rate)
        cpu_ratios.append(spent["usage"][1] / spent["otlp"][1])
        otlp_rates.append(otlp_rate)
        usage_rates.append(usage_rate)
        print(f"  round {r}: /v1/logs {otlp_rate:>8,.0f} records/s   /api/v1/usage {usage_rate:>8,.0f} "
              f"events/s   ratio {wall_ratios[-1]:.1%} (CPU time: {cpu_ratios[-1]:.1%})")
    print(f"[{label}] {rounds} rounds x {batches} exports of {BATCH} Claude Code records "
          f"(+ the same calls through /api/v1/usage, interleaved)")
    print(f"  /v1/logs median {statistics.median(otlp_rates):,.0f} records/s; /api/v1/usage median "
          f"{statistics.median(usage_rates):,.0f} events/s")
    print(f"  ratio min {min(wall_ratios):.1%}  median {statistics.median(wall_ratios):.1%}   "
          f"target >= 50%, goal 80%")
    print(f"  ratio by this process's CPU time (immune to other load; excludes PostgreSQL's own work): "
          f"min {min(cpu_ratios):.1%}  median {statistics.median(cpu_ratios):.1%}")
    get_db(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=4, help="exports of 512 records per round and path")
    parser.add_argument("--postgres", default=os.environ.get("BUDGETBOT_BENCH_POSTGRES_URL"),
                        help="PostgreSQL URL to benchmark too (its tables are dropped and recreated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.sqlite3", args.rounds, args.batches)
    if args.postgres:
        run("PostgreSQL", args.postgres, args.rounds, args.batches)


if __name__ == "__main__":
    main()
