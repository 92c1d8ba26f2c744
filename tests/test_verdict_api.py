"""Issue 12 through the API and CLI: unpriced spend, model names real proxies send, strict input, approvals, voids."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.ledger.tables import Story, StoryApproval, UsageEvent, UsageVoid

UNKNOWN = "acme-coder-70b"


def post(client, auth, body):
    return client.post("/api/v1/usage", json=body, headers=auth)


def event(event_id="e1", **fields) -> dict:
    body = {"event_id": event_id, "story": "PROJ-1", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100}
    body.update(fields)
    return body


def budget(client, auth, key="PROJ-1", **amounts):
    assert client.put(f"/api/v1/stories/{key}/budget", json=amounts, headers=auth).status_code == 200


def test_unpriced_spend_is_null_not_zero_and_does_not_pass_a_dollar_budget(client, auth):
    budget(client, auth, usd="$0.01")
    answer = post(client, auth, event(model=UNKNOWN, input_tokens=5_800_000, output_tokens=100_000)).json

    assert answer["events"][0]["cost_usd"] is None and answer["events"][0]["priced"] is False
    story = client.get("/api/v1/stories/PROJ-1", headers=auth).json
    assert story["status"] == "unpriced"
    assert story["unpriced_events"] == 1 and story["spent"]["tokens"] == 5_900_000
    assert story["unpriced_models"] == [UNKNOWN]
    listed = client.get("/api/v1/stories?status=unpriced", headers=auth).json
    assert [s["key"] for s in listed["stories"]] == ["PROJ-1"]


def test_unpriced_spend_over_the_token_budget_is_still_over(client, auth):
    budget(client, auth, tokens="1k", usd="$5")
    post(client, auth, event(model=UNKNOWN, input_tokens=5000))
    assert client.get("/api/v1/stories/PROJ-1", headers=auth).json["status"] == "over"


@pytest.mark.parametrize(("model", "provider"), [
    ("anthropic/claude-sonnet-4-5", "anthropic"), ("anthropic/claude-sonnet-4-5", None), ("openai/gpt-4o", None),
    ("azure/gpt-4o", None), ("gemini/gemini-2.5-pro", None), ("openrouter/anthropic/claude-sonnet-4.5", None),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock"), ("anthropic.claude-sonnet-4-5-20250929-v1:0", None),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic"), ("claude-sonnet-4-5@20250929", "google-vertex"),
])
def test_model_names_real_proxies_send_are_priced(client, auth, model, provider):
    answer = post(client, auth, event(model=model, provider=provider)).json
    assert answer["events"][0]["priced"] is True and answer["events"][0]["cost_usd"] not in (None, "0")


def test_prices_show_takes_the_same_names(cli):
    result = cli("prices", "show", "openrouter/anthropic/claude-sonnet-4.5")
    assert result.exit_code == 0 and "openrouter" in result.output and "$3/MTok" in result.output


def test_one_model_family_in_the_showback_with_the_exact_id_kept(client, auth, db):
    for n, model in enumerate(["gpt-4o", "GPT-4o", "gpt-4o-2024-11-20"]):
        post(client, auth, event(f"f{n}", model=model))
    by_model = client.get("/api/v1/stories/PROJ-1", headers=auth).json["by_model"]
    assert [(row["name"], row["events"]) for row in by_model] == [("gpt-4o", 3)]
    with db.session_factory() as session:
        assert sorted(session.scalars(select(UsageEvent.model))) == ["GPT-4o", "gpt-4o", "gpt-4o-2024-11-20"]


def test_gemini_usage_metadata_is_the_third_shape(client, auth, db):
    usage = {"prompt_token_count": 1200, "candidates_token_count": 300, "cached_content_token_count": 1000,
             "thoughts_token_count": 500, "total_token_count": 2000}
    answer = post(client, auth, {"event_id": "g1", "story": "PROJ-1", "model": "gemini-2.5-pro", "usage": usage})
    assert answer.status_code == 200, answer.json
    with db.session_factory() as session:
        row = session.scalar(select(UsageEvent))
    # Thoughts are not part of candidates (total = prompt + candidates + thoughts): output counts both.
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.reasoning_tokens) == (1200, 800, 1000, 500)


@pytest.mark.parametrize("value", [True, "100", 100.0])
@pytest.mark.parametrize("field", ["input_tokens", "tool_calls"])
def test_counts_are_json_integers(client, auth, db, field, value):
    answer = post(client, auth, event(**{field: value}))
    assert answer.status_code == 400
    assert [e["path"] for e in answer.json["errors"]] == [field]
    with db.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 0


@pytest.mark.parametrize("when", ["2999-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00",
                                  "0001-01-01T00:00:00+05:00"])
def test_occurred_at_within_a_sane_window(client, auth, when):
    answer = post(client, auth, event(occurred_at=when))
    assert answer.status_code == 400 and answer.json["errors"][0]["path"] == "occurred_at"


def test_approve_and_revoke_an_overrun_from_the_api_and_the_cli(client, auth, cli, db):
    budget(client, auth, tokens="1k")
    post(client, auth, event(input_tokens=5000))
    answer = client.post("/api/v1/stories/PROJ-1/approval", json={"by": "maria", "reason": "spike agreed"},
                         headers=auth)
    assert answer.status_code == 200 and answer.json["status"] == "overridden"
    assert answer.json["approval"]["by"] == "maria" and answer.json["approval"]["reason"] == "spike agreed"
    listed = client.get("/api/v1/stories?status=overridden", headers=auth).json
    assert [s["key"] for s in listed["stories"]] == ["PROJ-1"]
    assert "OVERRIDDEN" in cli("status", "PROJ-1").output

    result = cli("budget", "revoke", "PROJ-1", "--by", "lee", "--reason", "not agreed after all")
    assert result.exit_code == 0
    assert client.get("/api/v1/stories/PROJ-1", headers=auth).json["status"] == "over"
    assert cli("budget", "approve", "proj-1", "--by", "lee", "--reason", "ok then").exit_code == 0
    assert client.get("/api/v1/stories/PROJ-1", headers=auth).json["status"] == "overridden"
    gone = client.delete("/api/v1/stories/PROJ-1/approval", json={"by": "maria", "reason": "done"}, headers=auth)
    assert gone.status_code == 200 and gone.json["status"] == "over"
    with db.session_factory() as session:
        rows = list(session.scalars(select(StoryApproval).order_by(StoryApproval.id)))
    assert [(r.approved_by, r.source, r.revoked_by) for r in rows] == [("maria", "api", "lee"), ("lee", "cli", "maria")]
    bad = client.post("/api/v1/stories/PROJ-1/approval", json={"reason": "x"}, headers=auth)
    assert bad.status_code == 400 and bad.json["errors"][0]["path"] == "by"


def test_a_voided_event_stops_counting_everywhere_and_stays_in_the_ledger(client, auth, cli, db):
    budget(client, auth, tokens="2k")
    post(client, auth, {"events": [event("ok-1", run_id="r1"), event("wrong", input_tokens=90_000, run_id="r1")]})
    assert client.get("/api/v1/stories/PROJ-1", headers=auth).json["status"] == "over"

    answer = client.post("/api/v1/events/wrong/void", json={"by": "maria", "reason": "replayed by a proxy bug"},
                         headers=auth)
    assert answer.status_code == 200 and answer.json["story"]["status"] == "ok"
    story = client.get("/api/v1/stories/PROJ-1", headers=auth).json
    assert story["spent"]["tokens"] == 1100 and story["events"] == 1
    assert [row["events"] for row in story["by_model"]] == [1]
    again = client.post("/api/v1/events/wrong/void", json={"by": "maria", "reason": "twice"}, headers=auth)
    assert again.status_code == 409
    assert client.post("/api/v1/events/nope/void", json={"by": "a", "reason": "b"}, headers=auth).status_code == 404
    rebuilt = cli("rebuild")
    assert "0 stories and 0 daily rows differed" in rebuilt.output
    with db.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 2
        void = session.scalar(select(UsageVoid))
        assert (void.event_id, void.voided_by, void.reason) == ("wrong", "maria", "replayed by a proxy bug")
        assert session.get(Story, "PROJ-1").spent_tokens == 1100
    result = cli("event", "void", "ok-1", "--reason", "test", "--by", "lee")
    assert result.exit_code == 0
    assert client.get("/api/v1/stories/PROJ-1", headers=auth).json["spent"]["tokens"] == 0
