"""Names agents choose (agent, run id) reach Slack escaped in the message's `text` fallback too, as in its blocks:
`<!channel>` in a run id must not notify a channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from scrum_support import event, ingest_events, rows

NOW = datetime(2026, 3, 9, 15, tzinfo=UTC)


@pytest.fixture
def settings_overrides(db_url):
    return {"database_url": db_url, "public_url": "https://budgetbot.test", "anomaly_run_usd": 1}  # the old default


def test_an_alert_about_a_run_named_like_a_mention_is_escaped_in_the_text_fallback(app, db):
    start = datetime.combine(NOW.date(), datetime.min.time(), UTC)
    batch = [event(f"r-{n}", (start + timedelta(hours=n)).isoformat(), cost="0.60", story="PROJ-1",
                   run_id="<!channel>", agent="<@U123>") for n in range(2)]

    ingest_events(app, db, batch)

    slack, = rows(db, "slack.message")
    assert "<!channel>" not in slack.payload["text"] and "<@U123>" not in slack.payload["text"]
    assert "&lt;!channel&gt;" in slack.payload["text"]
    assert "<!channel>" not in str(slack.payload["blocks"])
