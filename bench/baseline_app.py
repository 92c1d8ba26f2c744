"""The baseline of the single-event benchmarks: Flask + one INSERT + COMMIT, nothing else.

The same server, the same database, the same ledger table: what a request costs before budgetbot does anything
(no token, no validation, no pricing, no totals). `bench/ingest.py` serves it with waitress beside the app, and
calls it in-process through Flask's test client.

    BUDGETBOT_DATABASE_URL=… waitress-serve --call baseline_app:create_app    (from bench/)
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request
from sqlalchemy import insert

from bot.db import make_engine
from bot.ledger.tables import UsageEvent


def create_app(url: str | None = None) -> Flask:
    app = Flask("baseline")
    engine = make_engine(url or os.environ["BUDGETBOT_DATABASE_URL"])
    statement = insert(UsageEvent)

    @app.post("/api/v1/usage")
    def usage():
        body = request.get_json()
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(statement, {
                "event_id": body["event_id"], "content_hash": "0" * 64, "story_key": body.get("story"),
                "occurred_at": now, "received_at": now, "agent": body.get("agent"), "model": body["model"],
                "run_id": body.get("run_id"), "input_tokens": body["input_tokens"],
                "output_tokens": body["output_tokens"], "cache_read_tokens": 0, "cache_write_tokens": 0,
                "reasoning_tokens": 0, "tool_calls": 0, "cost_nano_usd": 0, "priced": False,
                "price_source": "unpriced", "outcome": "ok", "attributes": {}})
        return jsonify(accepted=1)

    return app
