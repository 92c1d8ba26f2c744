"""A small ledger whose retro figures are worked out by hand in tests/test_retro_report.py.

Prices (price file, USD per million tokens): `big` (provider acme) input 10, cache read 1, cache write 12.5,
output 30; `small` (acme) input 1, cache read 0.1, output 3; `mystery` has no price.

Sprint S1 = 2026-02-16..02-27, sprint S2 = 2026-03-02..03-13 (inclusive days).

| event | story | day   | model   | agent    | run | in (cached) | out    | USD    | team / cost center |
|-------|-------|-------|---------|----------|-----|-------------|--------|--------|--------------------|
| e0    | A-1   | 02-20 | small   | coder    | r0  | 20k         | 0      | 0.02   | core / CC1         |
| e1    | A-1   | 03-02 | big     | coder    | r1  | 40k (20k)   | 10k    | 0.52   | core / CC1         |
| e2    | A-1   | 03-03 | small   | coder    | r1  | 10k         | 0      | 0.01   | core / CC1         |
| e3    | A-2   | 03-03 | big     | reviewer | r2  | 10k         | 5k     | 0.25   | core / CC1         |
| e4    | A-2   | 03-04 | big     | reviewer | r3  | 40k  error  | 10k    | 0.70   | core / CC1         |
| e5    | A-3   | 03-05 | mystery | coder    | -   | 1k          | 1k     | unpriced | -                |
| e6    | A-4   | 03-05 | small   | coder    | r4  | 100k (50k)  | 10k    | 0.085  | web / CC2          |
| e7    | -     | 03-06 | big     | chat     | -   | 1k          | 1k     | 0.04   | -                  |

Stories (all in Jira sprint S2): A-1 budget 100k tokens, 3 points, resolved 03-10; A-2 budget 20k tokens,
5 points, resolved 03-12; A-3 budget $0.10, open; A-4 no budget, 2 points, resolved 03-05; A-5 budget 50k
tokens, no events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.ledger.budgets import usd_to_nano
from bot.ledger.ingest import ingest, set_budget
from bot.ledger.pricing import Pricer
from bot.ledger.tables import Sprint, Story
from bot.ledger.usage_shapes import UsageEventIn

PRICES = """
[models.big]
provider = "acme"
input_mtok = 10
output_mtok = 30
cache_read_mtok = 1
cache_write_mtok = 12.5

[models.small]
provider = "acme"
input_mtok = 1
output_mtok = 3
cache_read_mtok = 0.1
"""
CORE = {"team": "core", "cost_center": "CC1"}
EVENTS = [
    dict(event_id="e0", story="A-1", occurred_at="2026-02-20T10:00:00Z", model="small", agent="coder", run_id="r0",
         input_tokens=20_000, output_tokens=0, attributes=CORE),
    dict(event_id="e1", story="A-1", occurred_at="2026-03-02T10:00:00Z", model="big", agent="coder", run_id="r1",
         input_tokens=40_000, cache_read_tokens=20_000, output_tokens=10_000, attributes=CORE),
    dict(event_id="e2", story="A-1", occurred_at="2026-03-03T10:00:00Z", model="small", agent="coder", run_id="r1",
         input_tokens=10_000, output_tokens=0, attributes=CORE),
    dict(event_id="e3", story="A-2", occurred_at="2026-03-03T11:00:00Z", model="big", agent="reviewer",
         run_id="r2", input_tokens=10_000, output_tokens=5_000, attributes=CORE),
    dict(event_id="e4", story="A-2", occurred_at="2026-03-04T11:00:00Z", model="big", agent="reviewer",
         run_id="r3", input_tokens=40_000, output_tokens=10_000, outcome="error", attributes=CORE),
    dict(event_id="e5", story="A-3", occurred_at="2026-03-05T09:00:00Z", model="mystery", agent="coder",
         input_tokens=1_000, output_tokens=1_000),
    dict(event_id="e6", story="A-4", occurred_at="2026-03-05T12:00:00Z", model="small", agent="coder", run_id="r4",
         input_tokens=100_000, cache_read_tokens=50_000, output_tokens=10_000,
         attributes={"team": "web", "cost_center": "CC2"}),
    dict(event_id="e7", occurred_at="2026-03-06T12:00:00Z", model="big", agent="chat",
         input_tokens=1_000, output_tokens=1_000),
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_ledger(db, prices_file) -> None:
    pricer = Pricer(prices_file)
    warn = Decimal("0.8")
    with db.transaction() as session:
        session.add(Sprint(name="S1", start_at=utc("2026-02-16"), end_at=utc("2026-02-28")))
        session.add(Sprint(name="S2", start_at=utc("2026-03-02"), end_at=utc("2026-03-14")))
        ingest(session, [UsageEventIn(**event) for event in EVENTS], pricer, warn)
        set_budget(session, "A-1", 100_000, None, warn)
        set_budget(session, "A-2", 20_000, None, warn)
        set_budget(session, "A-3", None, usd_to_nano(Decimal("0.10")), warn)
        set_budget(session, "A-5", 50_000, None, warn)
        details = {"A-1": (3, "2026-03-10"), "A-2": (5, "2026-03-12"), "A-3": (None, None),
                   "A-4": (2, "2026-03-05"), "A-5": (None, None)}
        for key, (points, resolved) in details.items():
            story = session.get(Story, key)
            story.sprint, story.story_points = "S2", points
            story.resolved_at = utc(resolved) if resolved else None
            story.summary = f"Story {key}"


# Fixtures shared by the retro and export tests (imported by name into each test module).
@pytest.fixture
def prices_file(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


@pytest.fixture
def settings_overrides(db_url, prices_file):
    return {"database_url": db_url, "prices_file": str(prices_file)}


@pytest.fixture
def ledger(app, db, prices_file, monkeypatch):
    monkeypatch.setenv("BUDGETBOT_PRICES_FILE", str(prices_file))  # for `budgetbot` run through the cli fixture
    build_ledger(db, prices_file)
    return db
