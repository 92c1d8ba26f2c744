"""HTTP API v1: usage ingest, story budgets and status, and the OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select

from bot.app_pricer import get_pricer
from bot.config import Settings
from bot.db import get_db
from bot.ledger import approvals
from bot.ledger.budgets import BudgetError, Status, nano_to_usd, parse_tokens, parse_usd, usd_to_nano
from bot.ledger.ingest import EventConflict, ingest, set_budget
from bot.ledger.keys import InvalidStoryKey, normalize_key
from bot.ledger.read import story_detail, story_summary
from bot.ledger.tables import Story
from bot.ledger.usage_shapes import BatchInvalid, parse_usage_body
from bot.ledger.voids import VoidError, void_event
from bot.web.auth import require_token
from bot.web.json_io import error, json_body
from bot.web.openapi import STORY_KEY_PATTERN, openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")




@bp.before_request
def _refuse_nul_in_the_url():
    for name, value in [*request.args.items(multi=True), *(request.view_args or {}).items()]:
        if "\x00" in name or "\x00" in str(value):
            return error(400, "invalid_parameter", f"{name}: parameters must not contain NUL characters",
                         errors=[{"path": name.replace("\x00", ""), "message": "contains a NUL character"}])
    return None


def settings() -> Settings:
    return current_app.config["SETTINGS"]


@bp.post("/usage")
@require_token
def post_usage():
    body = json_body()
    try:
        events, _ = parse_usage_body(body, settings().max_batch_events,
                                     timedelta(seconds=settings().max_future_seconds))
    except BatchInvalid as exc:
        return error(400, "invalid_events", "nothing was stored: fix these fields and resend the batch",
                     errors=exc.errors)
    pricer = get_pricer()
    try:
        with get_db().transaction() as session:
            outcome = ingest(session, events, pricer, settings().warn_threshold)
            results = outcome.events
            stories = {c.story.key: story_summary(c.story, settings().warn_threshold) for c in outcome.changes}
            # Stories only named by duplicates did not change; they are still reported.
            missing = {r.story for r in results if r.story} - stories.keys()
            if missing:
                stories.update({s.key: story_summary(s, settings().warn_threshold)
                                for s in session.scalars(select(Story).where(Story.key.in_(missing)))})
            stories = dict(sorted(stories.items()))
    except EventConflict as exc:
        path = f"events[{exc.index}].event_id" if isinstance(body, dict) and "events" in body else "event_id"
        return error(409, "event_conflict", f"{exc}; nothing of this request was stored",
                     errors=[{"path": path, "message": str(exc)}])
    return jsonify(
        accepted=sum(r.result == "accepted" for r in results),
        duplicates=sum(r.result == "duplicate" for r in results),
        events=[{"event_id": r.event_id, "result": r.result, "story": r.story, "priced": r.priced,
                 "cost_usd": None if r.cost_nano_usd is None else _usd(r.cost_nano_usd)} for r in results],
        stories=stories,
    )


def _usd(nano: int) -> str:
    # Data, not display: the API returns the exact decimal ("0.709501925"), so not bot.reports.format.money.
    return f"{nano_to_usd(nano):f}"


def _story_key(raw: str) -> str:
    try:
        # The documented pattern first: upper() maps some non-ASCII letters (ı, ß) onto ASCII keys.
        if not re.fullmatch(STORY_KEY_PATTERN.strip("^$"), raw):
            raise InvalidStoryKey(f"{raw!r} is not a Jira issue key (expected something like PROJ-123)")
        return normalize_key(raw)
    except InvalidStoryKey as exc:
        abort(error(400, "invalid_story_key", str(exc), errors=[{"path": "key", "message": str(exc)}]))


@bp.get("/stories")
@require_token
def list_stories():
    wanted = request.args.get("status")
    if wanted is not None and wanted not in {s.value for s in Status}:  # `?status=` too: not a status
        return error(400, "invalid_status", f"status must be one of {[s.value for s in Status]}",
                     errors=[{"path": "status", "message": "unknown status"}])
    query = select(Story).where(Story.deleted.is_(False)).order_by(Story.key)
    if len(request.args.get("project") or "") > 32:
        return error(400, "invalid_project", "project must be a Jira project key (at most 32 characters)",
                     errors=[{"path": "project", "message": "longer than 32 characters"}])
    if project := request.args.get("project"):
        query = query.where(Story.project == project.upper())
    with get_db().read() as session:
        rows = [story_summary(s, settings().warn_threshold) for s in session.scalars(query)]
    if wanted:
        rows = [r for r in rows if r["status"] == wanted]
    return jsonify(stories=rows, count=len(rows))


@bp.get("/stories/<key>")
@require_token
def get_story(key: str):
    key = _story_key(key)
    with get_db().read() as session:
        story = session.get(Story, key)
        if story is None:
            return error(404, "not_found", f"no budget or spend recorded for {key} yet")
        return jsonify(story_detail(session, story, settings().warn_threshold))


@bp.put("/stories/<key>/budget")
@require_token
def put_budget(key: str):
    key = _story_key(key)
    body = json_body()
    if not isinstance(body, dict):
        return error(400, "invalid_budget", "send a JSON object", errors=[{"path": "body", "message": "not an object"}])
    unknown = sorted(body.keys() - {"tokens", "usd"})
    if unknown:
        return error(400, "invalid_budget", f"unknown field(s): {', '.join(unknown)}",
                     errors=[{"path": name, "message": "unknown field"} for name in unknown])
    if not ({"tokens", "usd"} & body.keys()):
        return error(400, "invalid_budget", "give tokens and/or usd, e.g. {\"tokens\": \"200k\", \"usd\": \"$5\"}",
                     errors=[{"path": "body", "message": "tokens or usd required"}])
    parsed, problems = {}, []
    for name, parse in (("tokens", parse_tokens), ("usd", lambda v: usd_to_nano(parse_usd(v)))):
        if name in body and body[name] is not None:
            try:
                parsed[name] = parse(body[name])
            except BudgetError as exc:
                problems.append({"path": name, "message": str(exc)})
    if problems:
        return error(400, "invalid_budget", "the budget was not changed", errors=problems)
    with get_db().transaction() as session:
        story = session.get(Story, key)
        tokens = parsed.get("tokens") if "tokens" in body else (story.budget_tokens if story else None)
        nano = parsed.get("usd") if "usd" in body else (story.budget_nano_usd if story else None)
        change = set_budget(session, key, tokens, nano, settings().warn_threshold, clear_missing=True)
        return jsonify(story_detail(session, change.story, settings().warn_threshold))


def _who_and_why(body) -> tuple[str, str]:
    """`{"by": NAME, "reason": TEXT}` of an approval, revocation or void; aborts with 400 naming the field."""
    if not isinstance(body, dict):
        abort(error(400, "invalid_body", "send a JSON object", errors=[{"path": "body", "message": "not an object"}]))
    problems = [{"path": name, "message": f"{name} must be a non-empty string of at most {size} characters"}
                for name, size in (("by", 200), ("reason", 2000))
                if not isinstance(body.get(name), str) or not body[name].strip() or len(body[name]) > size]
    problems += [{"path": name, "message": "unknown field"} for name in sorted(body.keys() - {"by", "reason"})]
    if problems:
        abort(error(400, "invalid_body", "nothing was changed", errors=problems))
    return body["by"].strip(), body["reason"].strip()


@bp.post("/stories/<key>/approval")
@require_token
def approve_overrun(key: str):
    key = _story_key(key)
    by, reason = _who_and_why(json_body())
    with get_db().transaction() as session:
        approvals.approve(session, key, by, reason, "api", settings().warn_threshold)
        story = session.get(Story, key)
        assert story is not None  # approve() creates it
        return jsonify(story_detail(session, story, settings().warn_threshold))


@bp.delete("/stories/<key>/approval")
@require_token
def revoke_overrun(key: str):
    key = _story_key(key)
    by, reason = _who_and_why(json_body())
    with get_db().transaction() as session:
        story = session.get(Story, key)
        if story is None or not approvals.revoke(session, key, by, reason, settings().warn_threshold):
            return error(404, "not_found", f"{key} has no standing approval to revoke")
        return jsonify(story_detail(session, story, settings().warn_threshold))


@bp.post("/events/<path:event_id>/void")
@require_token
def void_usage_event(event_id: str):
    by, reason = _who_and_why(json_body())
    try:
        with get_db().transaction() as session:
            done = void_event(session, event_id, by, reason, settings().warn_threshold)
            story = session.get(Story, done.event.story_key) if done.event.story_key else None
            answer = {"event_id": event_id, "voided_by": by, "reason": reason,
                      "voided_at": done.void.voided_at.isoformat().replace("+00:00", "Z"),
                      "story": story_summary(story, settings().warn_threshold) if story else None}
    except VoidError as exc:
        return error(404 if exc.code == "not_found" else 409, exc.code, str(exc),
                     errors=[{"path": "event_id", "message": str(exc)}])
    return jsonify(answer)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
