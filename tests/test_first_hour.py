"""The first hour without Jira: sprints by dates, story fields from the CLI and API, listings, budget units."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)  # a Wednesday


def test_sprint_add_refuses_overlaps_and_names_its_own_options(cli):
    cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04")

    overlap = cli("sprint", "add", "Sprint 2", "--start", "2026-12-04", "--end", "2026-12-18")
    same_name = cli("sprint", "add", "SPRINT 1", "--start", "2027-01-04", "--end", "2027-01-15")
    backwards = cli("sprint", "add", "Sprint 3", "--start", "2027-02-10", "--end", "2027-02-01")
    not_a_date = cli("sprint", "add", "Sprint 4", "--start", "soon", "--end", "2027-02-01")

    assert overlap.exit_code != 0 and "would overlap sprint 'Sprint 1'" in overlap.output
    assert same_name.exit_code != 0 and "already exists" in same_name.output
    assert backwards.exit_code != 0 and "--end 2027-02-01 is before --start 2027-02-10" in backwards.output
    assert not_a_date.exit_code != 0 and "--start 'soon'" in not_a_date.output
    assert "--from" not in backwards.output + not_a_date.output
    assert "Traceback" not in overlap.output


def test_sprint_edit_and_remove_match_names_whatever_their_case(cli):
    cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04")
    cli("story", "set", "PROJ-1", "--sprint", "sprint 1")

    edited = cli("sprint", "edit", "SPRINT 1", "--name", "Sprint 1b", "--end", "2026-12-11")
    listed = cli("stories", "--sprint", "sprint 1B").output
    removed = cli("sprint", "remove", "sprint 1b")

    assert edited.exit_code == 0 and "Mon 2026-11-23 to Fri 2026-12-11" in edited.output
    assert "PROJ-1" in listed and "Sprint 1b" in listed  # the story followed the rename
    assert removed.exit_code == 0 and "1 story left without a sprint" in removed.output
    assert cli("sprint", "list").output.startswith("no sprints")
    assert cli("sprint", "remove", "Sprint 1b").exit_code != 0


@time_machine.travel(NOW, tick=False)
def test_a_sprint_added_by_dates_is_active_in_the_digest_and_its_last_day_counts(cli):
    cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04")
    cli("budget", "set", "PROJ-1", "$5")
    cli("story", "set", "PROJ-1", "--sprint", "Sprint 1", "--summary", "Login page")

    digest = cli("digest", "--dry-run").output

    assert "No active sprint" not in digest
    assert "*Sprint 1* · day 10 of 12 · ends Fri 4 Dec" in digest  # not "of 13 · ends Sat 5 Dec"


def test_story_set_sets_the_fields_jira_would_and_says_jira_wins(cli, db):
    from bot.ledger.tables import Story

    cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04")
    result = cli("story", "set", "proj-7", "--summary", "Saved cards", "--sprint", "SPRINT 1", "--points", "3",
                 "--assignee", "ana", "--resolved")
    with db.session_factory() as session:
        story = session.get(Story, "PROJ-7")

    assert result.exit_code == 0 and result.output.startswith("PROJ-7\tNO_BUDGET")
    assert (story.summary, story.sprint, story.story_points, story.assignee) == ("Saved cards", "Sprint 1", 3, "ana")
    assert story.resolved_at is not None
    cli("story", "set", "PROJ-7", "--reopen", "--assignee", "")
    with db.session_factory() as session:
        story = session.get(Story, "PROJ-7")
    assert story.resolved_at is None and story.assignee is None
    jira = cli("story", "set", "PROJ-7", "--points", "5", env={"BUDGETBOT_JIRA_URL": "https://x.atlassian.net"})
    assert "Jira is configured; its next update of PROJ-7 replaces these fields" in jira.output
    assert "Jira wins" in cli("story", "set", "--help").output


def test_story_set_refuses_an_unknown_sprint_and_no_field(cli):
    unknown = cli("story", "set", "PROJ-1", "--sprint", "Sprint 9")
    nothing = cli("story", "set", "PROJ-1")

    assert unknown.exit_code != 0 and "--sprint: no sprint named 'Sprint 9'" in unknown.output
    assert nothing.exit_code != 0 and "give at least one of" in nothing.output


def test_put_story_sets_fields_and_names_the_bad_one(client, auth, cli):
    cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04")

    ok = client.put("/api/v1/stories/proj-3", headers=auth,
                    json={"summary": "Refunds", "sprint": "sprint 1", "points": 2, "assignee": "ben", "resolved": True})
    bad_points = client.put("/api/v1/stories/PROJ-3", headers=auth, json={"points": "lots"})
    bad_sprint = client.put("/api/v1/stories/PROJ-3", headers=auth, json={"sprint": "Sprint 9"})
    unknown = client.put("/api/v1/stories/PROJ-3", headers=auth, json={"colour": "red"})
    no_token = client.put("/api/v1/stories/PROJ-3", json={"points": 1})

    body = ok.get_json()
    assert ok.status_code == 200 and body["key"] == "PROJ-3" and body["summary"] == "Refunds"
    assert (body["sprint"], body["points"], body["assignee"]) == ("Sprint 1", 2, "ben") and body["resolved_at"]
    assert bad_points.status_code == 400 and bad_points.get_json()["errors"][0]["path"] == "points"
    assert bad_sprint.status_code == 400 and bad_sprint.get_json()["errors"][0]["path"] == "sprint"
    assert unknown.status_code == 400 and unknown.get_json()["errors"][0]["path"] == "colour"
    assert no_token.status_code == 401
    assert client.get("/api/v1/stories/PROJ-3", headers=auth).get_json()["summary"] == "Refunds"  # nothing lost


def test_stories_lists_and_filters_by_sprint_and_status(cli, client, auth):
    cli("sprint", "add", "Sprint 1", "--start", "2026-11-23", "--end", "2026-12-04")
    for key, budget in (("PROJ-1", "1k"), ("PROJ-2", "1M"), ("PROJ-3", "2k")):
        cli("budget", "set", key, budget)
    cli("story", "set", "PROJ-1", "--sprint", "Sprint 1")
    cli("story", "set", "PROJ-2", "--sprint", "Sprint 1")
    client.post("/api/v1/usage", headers=auth, json={"event_id": "e1", "story": "PROJ-1", "model": "gpt-4o",
                                                     "input_tokens": 1500, "output_tokens": 10})

    over = cli("stories", "--sprint", "sprint 1", "--status", "over").output.splitlines()
    in_sprint = cli("stories", "--sprint", "Sprint 1").output.splitlines()

    assert [line.split("\t")[:2] for line in over] == [["PROJ-1", "OVER"]]
    assert [line.split("\t")[0] for line in in_sprint] == ["PROJ-1", "PROJ-2"]
    assert cli("stories", "--sprint", "nope").exit_code != 0


def test_budget_list_and_clear(cli):
    cli("budget", "set", "PROJ-1", "200k", "$5")
    cli("budget", "set", "PROJ-2", "$3")

    listed = cli("budget", "list").output.splitlines()
    cleared = cli("budget", "clear", "proj-1")

    assert [line.split("\t")[0] for line in listed] == ["PROJ-1", "PROJ-2"]
    assert "0/200,000 tokens" in listed[0] and "$0.00/$5.00" in listed[0]
    assert cleared.exit_code == 0 and "budget cleared" in cleared.output
    assert [line.split("\t")[0] for line in cli("budget", "list").output.splitlines()] == ["PROJ-2"]
    assert cli("budget", "clear", "PROJ-99").exit_code != 0


def test_budget_set_wants_a_unit_and_spots_what_the_shell_cut(cli):
    bare = cli("budget", "set", "PROJ-1", "5")
    cut = cli("budget", "set", "PROJ-1", ".50")  # what `$3.50` unquoted becomes
    emptied = cli("budget", "set", "PROJ-1")  # what `$5` unquoted becomes
    tokens_word = cli("budget", "set", "PROJ-1", "5000", "tokens")
    flagged = cli("budget", "set", "PROJ-2", "--tokens", "5000")

    assert bare.exit_code != 0 and "'5' has no unit: write 5k or '5 tokens' for tokens, '$5' for dollars" in bare.output
    assert cut.exit_code != 0 and "quote it, e.g. '$3.50'" in cut.output
    assert emptied.exit_code != 0 and "quote dollar amounts" in emptied.output
    assert tokens_word.exit_code == 0 and "5,000" in tokens_word.output
    assert flagged.exit_code == 0 and "5,000" in flagged.output


def test_jira_setup_dry_run_previews_the_requests_without_credentials(cli):
    import responses

    with responses.RequestsMock() as rsps:  # no request may leave: there are no credentials to send
        result = cli("jira", "setup", "--dry-run", env={"BUDGETBOT_JIRA_URL": "https://acme.atlassian.net"})
        assert len(rsps.calls) == 0

    assert result.exit_code == 0, result.output
    assert "no Jira credentials" in result.output
    assert "would POST https://acme.atlassian.net/rest/api/3/field {'name': 'Token Budget'" in result.output
    assert "would POST https://acme.atlassian.net/rest/api/3/field {'name': 'Token Spend'" in result.output


def test_the_jira_doctor_does_not_claim_401_in_dry_run():
    import responses

    from bot.config import load_settings
    from bot.integrations.jira.doctor import run_checks

    site = {"jira_url": "https://x.atlassian.net", "jira_personal_access_token": "p"}
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # Jira unreachable: nothing leaves
        dry = [c for c in run_checks(load_settings({"dry_run": True, **site})) if "WEBHOOK_SECRET" in c.text]
        live = [c for c in run_checks(load_settings(site)) if "WEBHOOK_SECRET" in c.text]

    assert dry[0].level == "warn" and "in dry-run POST /webhooks/jira accepts unsigned deliveries" in dry[0].text
    assert live[0].level == "fail" and "answers 401" in live[0].text


def test_github_replay_posts_a_signed_delivery_the_app_accepts(cli, tmp_path):
    import shutil

    import responses
    from conftest import FIXTURES

    from bot.app import create_app

    secret = "replay-secret"
    recorded = tmp_path / "pull_request__opened.json"
    shutil.copy(FIXTURES / "github" / "pull_request__opened.json", recorded)
    env = {"BUDGETBOT_GITHUB_WEBHOOK_SECRET": secret, "BUDGETBOT_PUBLIC_URL": "http://127.0.0.1:8101"}
    import os

    app = create_app({"database_url": os.environ["BUDGETBOT_DATABASE_URL"], "github_webhook_secret": secret})
    local = app.test_client()
    seen = []

    def forward(request):  # the "running app": the real webhook endpoint, through Flask's test client
        seen.append(request)
        answer = local.post("/webhooks/github", data=request.body, headers=dict(request.headers))
        return answer.status_code, {}, answer.get_data()

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, "http://127.0.0.1:8101/webhooks/github", callback=forward)
        result = cli("github", "replay", str(recorded), env=env)

    assert result.exit_code == 0, result.output
    assert "pull_request delivery" in result.output and "HTTP 200" in result.output
    assert seen[0].headers["X-GitHub-Event"] == "pull_request"
    assert seen[0].headers["X-Hub-Signature-256"].startswith("sha256=")
    assert seen[0].body == recorded.read_bytes()
    unsigned = cli("github", "replay", str(recorded), env={"BUDGETBOT_PUBLIC_URL": "http://127.0.0.1:8101"})
    assert unsigned.exit_code != 0 and "BUDGETBOT_GITHUB_WEBHOOK_SECRET" in unsigned.output


def test_make_run_takes_port_and_host_and_make_clean_keeps_the_ledger(tmp_path):
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        import pytest

        pytest.skip("no make on this machine")
    repo = Path(__file__).resolve().parent.parent
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # -n: print what would run; -o: take the venv as installed, so no install is attempted.
    run = subprocess.run(["make", "-n", "-o", ".venv/.installed-stamp", "run", "PORT=8101", "HOST=0.0.0.0"],
                         cwd=repo, env=env, capture_output=True, text=True, check=True).stdout
    clean = subprocess.run(["make", "-n", "clean"], cwd=repo, env=env, capture_output=True, text=True,
                           check=True).stdout

    assert "budgetbot run --host 0.0.0.0 --port 8101" in run
    assert "instance" not in clean and ".venv" in clean


def test_the_public_url_follows_the_port_unless_set(monkeypatch):
    monkeypatch.delenv("BUDGETBOT_PUBLIC_URL", raising=False)  # restored after: follow_port sets it for children
    from bot.config import load_settings
    from bot.processes.supervisor import follow_port

    default, chosen = load_settings({}), load_settings({"public_url": "https://budgetbot.example.com"})
    follow_port(default, "0.0.0.0", 8101)
    follow_port(chosen, "0.0.0.0", 8101)

    assert default.public_url == "http://127.0.0.1:8101"
    assert chosen.public_url == "https://budgetbot.example.com"
