"""`budgetbot demo`: a sprint worth looking at, through the real ingest, never over a database holding data."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from sqlalchemy import func, select

from bot.ledger.ingest import rebuild
from bot.ledger.tables import Story, UsageEvent

NOW = datetime(2026, 12, 1, 15, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_demo_seeds_a_sprint_that_the_digest_and_retro_tell_a_story_about(cli, db, client, auth):
    seeded = cli("demo")
    stories = cli("stories", "--sprint", "Sprint 43").output.splitlines()
    digest = cli("digest", "--dry-run").output
    retro = cli("retro", "--sprint", "sprint 43").output
    preflight = client.post("/api/v1/preflight", headers=auth,
                            json={"story": "PAY-109", "agent": "codex", "run_id": "demo-runaway-loop"}).get_json()

    assert seeded.exit_code == 0 and "Sprint 43 is under way" in seeded.output
    assert len(stories) == 12
    statuses = {line.split("\t")[0]: line.split("\t")[1] for line in stories}
    assert statuses["PAY-103"] == "OVER" and statuses["PAY-107"] == "OVER"
    assert sum(line.endswith("resolved") or "\tresolved\t" in line for line in stories) == 2
    assert "*Sprint 43* · day 7 of 14" in digest and "Over budget (2)" in digest and "*At risk" in digest
    assert "runaway loop" in digest
    assert "1 over with an approved override" in retro and "override by eli-lead" in retro
    assert "served from cache" in retro and "unpriced" in retro
    assert "Sprint 41" in retro and "Sprint 42" in retro  # the trend
    assert preflight["decision"] == "block"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent).where(UsageEvent.priced.is_(False))) > 0
        assert rebuild(session)["stories_changed"] == 0  # the rollups are what the ledger says


def test_demo_refuses_a_database_that_holds_data_unless_forced(cli, db):
    cli("budget", "set", "PROJ-1", "200k")

    refused = cli("demo")
    forced = cli("demo", "--force")

    assert refused.exit_code != 0 and "--force" in refused.output and "Traceback" not in refused.output
    assert forced.exit_code == 0
    with db.session_factory() as session:
        assert session.get(Story, "PROJ-1").budget_tokens == 200_000  # nothing of it was touched
        assert session.get(Story, "PAY-101") is not None
