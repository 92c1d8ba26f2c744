"""PUT /api/v1/stories/{key}: the fields Jira would set, for teams without Jira (Jira's next update wins)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from bot.db import get_db
from bot.ledger import story_fields
from bot.ledger.read import story_detail
from bot.web.api import _story_key, error, json_body
from bot.web.auth import require_token

bp = Blueprint("stories_api", __name__, url_prefix="/api/v1")


@bp.put("/stories/<key>")
@require_token
def put_story(key: str):
    """Body: any of summary, sprint, points, assignee (null clears) and resolved (true/false)."""
    key = _story_key(key)
    body = json_body()
    if not isinstance(body, dict) or not body:
        return error(400, "invalid_story", f"send a JSON object with any of {', '.join(story_fields.FIELDS)}",
                     errors=[{"path": "body", "message": "an object with at least one field"}])
    warn = current_app.config["SETTINGS"].warn_threshold
    try:
        with get_db().transaction() as session:
            story = story_fields.update(session, key, body)
            return jsonify({**story_detail(session, story, warn), **story_fields.describe(story)})
    except story_fields.FieldError as exc:
        return error(400, "invalid_story", f"the story was not changed: {exc}",
                     errors=[{"path": exc.field, "message": exc.message}])
