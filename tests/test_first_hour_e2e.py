"""A new team with no Jira: from an empty database to a sprint with a burn-down, at-risk stories and a retro,
through the CLI and the HTTP API alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

SPRINT_START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


def usage(client, headers, event_id: str, story: str, at: datetime, tokens: int) -> None:
    response = client.post("/api/v1/usage", headers=headers, json={
        "event_id": event_id, "story": story, "model": "claude-sonnet-4-5", "provider": "anthropic",
        "agent": "claude-code", "occurred_at": at.isoformat(), "input_tokens": tokens, "output_tokens": tokens // 20,
        "cache_read_tokens": tokens // 2})
    assert response.status_code == 200, response.get_json()


def test_a_team_without_jira_gets_a_living_sprint_from_the_cli_and_api(cli, client):
    secret = cli("token", "create", "laptop").stdout.strip()
    headers = {"Authorization": f"Bearer {secret}"}
    assert cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04").exit_code == 0
    assert cli("budget", "set", "WEB-1", "$4").exit_code == 0
    assert cli("budget", "set", "WEB-2", "2M").exit_code == 0
    assert cli("budget", "set", "WEB-3", "$20").exit_code == 0
    assert cli("story", "set", "WEB-1", "--summary", "Login page", "--sprint", "sprint 1", "--points", "3",
               "--assignee", "ana").exit_code == 0
    assert client.put("/api/v1/stories/WEB-2", headers=headers,
                      json={"summary": "Search box", "sprint": "Sprint 1", "points": 5}).status_code == 200
    assert cli("story", "set", "WEB-3", "--summary", "Footer", "--sprint", "Sprint 1").exit_code == 0
    for day in range(7):  # WEB-1 burns fast, WEB-2 steadily, WEB-3 hardly
        at = SPRINT_START + timedelta(days=day, hours=10)
        with time_machine.travel(at + timedelta(hours=1), tick=False):
            usage(client, headers, f"a{day}", "WEB-1", at, 180_000)
            usage(client, headers, f"b{day}", "WEB-2", at, 90_000)
            usage(client, headers, f"c{day}", "WEB-3", at, 5_000)
    cli("story", "set", "WEB-3", "--resolved")

    with time_machine.travel(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), tick=False):
        digest = cli("digest", "--dry-run").output
        listing = cli("stories", "--sprint", "Sprint 1").output
    with time_machine.travel(datetime(2026, 12, 7, 9, tzinfo=UTC), tick=False):
        retro = cli("retro", "--sprint", "Sprint 1").output

    assert "No active sprint" not in digest
    assert "*Sprint 1* · day 9 of 12 · ends Fri 4 Dec" in digest
    assert "[chart: Sprint 1: remaining budget" in digest  # the burn-down
    assert "*At risk (1)*\n• WEB-1" in digest, digest[:1500]
    assert "Jira comment on WEB-1" in digest and "Token burn-down · Sprint 1" in digest
    assert [line.split("\t")[0] for line in listing.splitlines()] == ["WEB-1", "WEB-2", "WEB-3"]
    assert retro.startswith("# Retro: Sprint 1")
    assert "| WEB-1 |" in retro and "| WEB-2 |" in retro
    assert "| WEB-3 |" in retro and "| yes |" in retro  # resolved
