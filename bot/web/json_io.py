"""Reading a JSON request body safely and answering an error as JSON: shared by every API route."""

from __future__ import annotations

from flask import abort, jsonify, request
from werkzeug.exceptions import BadRequest


def error(status: int, code: str, message: str, **extra):
    response = jsonify(error=code, message=message, **extra)
    response.status_code = status
    return response


MAX_JSON_DEPTH = 32  # a usage batch is 5 levels deep; deeper is an attack on the parser, not a request


def json_body():
    """The request's JSON; 400 for a wrong content type, bad JSON, absurd nesting or a NUL in any string
    (PostgreSQL cannot store NUL in text: it must be refused here, naming the field, not fail as a 500)."""
    if not request.is_json:
        abort(error(400, "bad_content_type", "send a JSON body with 'Content-Type: application/json'"))
    try:
        body = request.get_json()
    except BadRequest:
        abort(error(400, "malformed_json", "the body is not valid JSON"))
    except RecursionError:
        abort(_too_deep())
    problem = _unstorable(body, request.get_data(cache=True))
    if problem == "too_deep":
        abort(_too_deep())
    if problem:
        abort(error(400, "invalid_text", f"{problem}: text must not contain NUL characters",
                    errors=[{"path": problem, "message": "contains a NUL character"}]))
    return body


def _too_deep():
    return error(400, "malformed_json", f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep",
                 errors=[{"path": "body", "message": f"nested more than {MAX_JSON_DEPTH} levels"}])


def _unstorable(value: object, raw: bytes) -> str | None:
    """The path of the first string (or key) holding a NUL, "too_deep" past MAX_JSON_DEPTH, else None.
    Iterative: the point is to survive inputs that would exhaust the stack.

    JSON can only carry a NUL as the escape \\u0000, and only nest as deep as it has brackets: the raw body
    answers both at C speed, so a 1,000-event batch is not walked string by string (only its containers are,
    for the depth, when it has more brackets than the limit)."""
    strings = b"\\u0000" in raw
    if not strings and raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return None
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return "too_deep"
        if isinstance(item, str):
            if "\x00" in item:
                return path or "body"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if strings or isinstance(child, (dict, list)):
                    child_path = f"{path}.{key}" if path else str(key)
                    if "\x00" in key:
                        return child_path
                    stack.append((child, child_path, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in reversed(list(enumerate(item)))
                         if strings or isinstance(child, (dict, list)))
    return None
