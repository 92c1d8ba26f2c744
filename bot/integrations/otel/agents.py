"""Log events of the coding-agent CLIs (Claude Code, Codex CLI, Gemini CLI) that are model calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.integrations.otel.call import Call, event_id, fingerprint, from_unix_nano
from bot.integrations.otel.values import Rejected, count, decimal_text, duration_ms, text

Handler = Callable[[Any, dict[str, Any], dict[str, Any]], Call | None]


def _when(record: Any):
    return from_unix_nano(record.time_unix_nano or record.observed_time_unix_nano)


def _agent(attrs: dict, resource: dict) -> str | None:
    # A sub-agent names itself in agent.name; otherwise the CLI is the agent (service.name).
    return text(attrs, "agent.name") or text(resource, "agent.name") or text(resource, "service.name")


def _session(attrs: dict, resource: dict, *names: str) -> str | None:
    return text(attrs, *names) or text(resource, *names)


def _claude_id(kind: str, record: Any, attrs: dict, session: str | None, *content: object) -> str:
    if request_id := text(attrs, "request_id"):
        return event_id(f"claude_code{kind}", request_id)
    if session and (sequence := text(attrs, "event.sequence")):
        return event_id(f"claude_code{kind}", session, sequence)
    return event_id(f"claude_code{kind}", fingerprint(session, record.time_unix_nano, *content))


def claude_api_request(record: Any, attrs: dict, resource: dict) -> Call:
    """claude_code.api_request: Anthropic counts, so input EXCLUDES cache reads and writes."""
    model = text(attrs, "model")
    if model is None:
        raise Rejected("model is missing")
    fresh = count(attrs, "input_tokens", required=True)
    output = count(attrs, "output_tokens", required=True)
    read = count(attrs, "cache_read_tokens")
    write = count(attrs, "cache_creation_tokens")
    session = _session(attrs, resource, "session.id")
    extra = {}
    if (cost := decimal_text(attrs, "cost_usd")) is not None:
        extra["client_cost_usd"] = cost  # Claude Code's own estimate, beside budgetbot's price
    return Call("claude_code", _claude_id("", record, attrs, session, model, fresh, output, read, write),
                model, session, _agent(attrs, resource), "anthropic", _when(record), attrs,
                latency_ms=duration_ms(attrs), input_tokens=fresh + read + write, output_tokens=output,
                cache_read_tokens=read, cache_write_tokens=write, extra=extra)


def claude_api_error(record: Any, attrs: dict, resource: dict) -> Call:
    """claude_code.api_error: a failed call, counted (with no tokens) for the run's error streak."""
    session = _session(attrs, resource, "session.id")
    model = text(attrs, "model") or "unknown"
    extra = {k: v for k, v in (("error_status", text(attrs, "status_code")), ("attempt", text(attrs, "attempt")))
             if v is not None}
    return Call("claude_code", _claude_id(":error", record, attrs, session, model, text(attrs, "error")),
                model, session, _agent(attrs, resource), "anthropic", _when(record), attrs, outcome="error",
                latency_ms=duration_ms(attrs), extra=extra)


def codex_sse_event(record: Any, attrs: dict, resource: dict) -> Call | None:
    """codex.sse_event of kind response.completed: OpenAI counts (input includes cached, output reasoning)."""
    if text(attrs, "event.kind") != "response.completed":
        return None  # the other stream events carry no usage
    model = text(attrs, "model")
    if model is None:
        raise Rejected("model is missing")
    total_in = count(attrs, "input_token_count", required=True)
    output = count(attrs, "output_token_count", required=True)
    cached = count(attrs, "cached_token_count")
    write = count(attrs, "cache_write_token_count")
    reasoning = count(attrs, "reasoning_token_count")
    conversation = _session(attrs, resource, "conversation.id")
    response_id = text(attrs, "response.id")
    key = event_id("codex", response_id) if response_id else event_id(
        "codex", conversation, fingerprint(record.time_unix_nano, model, total_in, output, cached, reasoning))
    return Call("codex", key, model, conversation, _agent(attrs, resource), "openai", _when(record), attrs,
                latency_ms=duration_ms(attrs), input_tokens=max(total_in, cached + write),
                output_tokens=max(output, reasoning), cache_read_tokens=cached, cache_write_tokens=write,
                reasoning_tokens=reasoning)


def gemini_api_response(record: Any, attrs: dict, resource: dict) -> Call:
    """gemini_cli.api_response: prompt count includes cached; thoughts and tool-use prompt come on top."""
    model = text(attrs, "model")
    if model is None:
        raise Rejected("model is missing")
    prompt = count(attrs, "input_token_count", required=True)
    candidates = count(attrs, "output_token_count", required=True)
    cached = count(attrs, "cached_content_token_count")
    thoughts = count(attrs, "thoughts_token_count")
    tool = count(attrs, "tool_token_count")
    session = _session(attrs, resource, "session.id")
    key = event_id("gemini_cli", session, fingerprint(
        text(attrs, "prompt_id"), record.time_unix_nano, model, prompt, candidates, cached, thoughts, tool))
    return Call("gemini_cli", key, model, session, _agent(attrs, resource), "google", _when(record), attrs,
                latency_ms=duration_ms(attrs), input_tokens=max(prompt + tool, cached),
                output_tokens=candidates + thoughts, cache_read_tokens=cached, reasoning_tokens=thoughts)


def gemini_api_error(record: Any, attrs: dict, resource: dict) -> Call:
    session = _session(attrs, resource, "session.id")
    model = text(attrs, "model") or "unknown"
    key = event_id("gemini_cli:error", session, fingerprint(
        text(attrs, "prompt_id"), record.time_unix_nano, model, text(attrs, "error")))
    return Call("gemini_cli", key, model, session, _agent(attrs, resource), "google", _when(record), attrs,
                outcome="error", latency_ms=duration_ms(attrs))


HANDLERS: dict[str, Handler] = {
    "claude_code.api_request": claude_api_request,
    "claude_code.api_error": claude_api_error,
    "codex.sse_event": codex_sse_event,
    "gemini_cli.api_response": gemini_api_response,
    "gemini_cli.api_error": gemini_api_error,
}
_CLAUDE_SHORT = {"api_request", "api_error"}


def event_name(record: Any, attrs: dict, service: str | None) -> str | None:
    """The event a record is, by the LogRecord's event_name, its event.name attribute or its body."""
    body = record.body.string_value if record.body.WhichOneof("value") == "string_value" else ""
    short = attrs.get("event.name")
    for candidate in (getattr(record, "event_name", ""), short, body):
        if candidate in HANDLERS:
            return candidate
    # Claude Code's event.name is unprefixed ("api_request"); the body or the service says whose it is.
    if short in _CLAUDE_SHORT and (body.startswith("claude_code.") or service == "claude-code"):
        return f"claude_code.{short}"
    return None
