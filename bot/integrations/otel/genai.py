"""Spans following the OpenTelemetry GenAI semantic conventions (any instrumented SDK) that are model calls."""

from __future__ import annotations

from typing import Any

from bot.integrations.otel.call import Call, event_id, fingerprint, from_unix_nano
from bot.integrations.otel.values import count, text

# gen_ai.operation.name values that are one call to a model; invoke_agent, execute_tool, ... are not.
MODEL_CALL_OPERATIONS = frozenset({"chat", "generate_content", "text_completion", "embeddings"})
STATUS_ERROR = 2  # Status.StatusCode.STATUS_CODE_ERROR
# gen_ai.provider.name (or the older gen_ai.system) -> the provider ids genai-prices knows.
_PROVIDERS = {"gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google", "vertex_ai": "google",
              "gemini": "google", "aws.bedrock": "aws", "az.ai.openai": "azure", "azure.ai.openai": "azure",
              "azure.ai.inference": "azure", "az.ai.inference": "azure", "mistral_ai": "mistral",
              "x_ai": "x-ai", "xai": "x-ai"}
_USAGE = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
          "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens")


def _first_count(attrs: dict[str, Any], *names: str) -> int:
    for name in names:
        if attrs.get(name) is not None:
            return count(attrs, name)
    return 0


def span_call(span: Any, attrs: dict[str, Any], resource: dict[str, Any]) -> Call | None:
    """One ledger call for a model-call span; None for other spans (agents, tools, HTTP, ...)."""
    if text(attrs, "gen_ai.operation.name") not in MODEL_CALL_OPERATIONS:
        return None
    failed = span.status.code == STATUS_ERROR
    if not failed and not any(attrs.get(name) is not None for name in _USAGE):
        return None  # nothing to count (the instrumentation did not record usage)
    # gen_ai.usage.input_tokens SHOULD include cached tokens; prompt/completion_tokens are the pre-1.27 names.
    total_in = _first_count(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    output = _first_count(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    read = _first_count(attrs, "gen_ai.usage.cache_read.input_tokens")
    write = _first_count(attrs, "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens")
    reasoning = _first_count(attrs, "gen_ai.usage.reasoning.output_tokens")
    if read + write > total_in:
        total_in += read + write  # the instrumentation kept Anthropic's meaning (input without cache)
    if reasoning > output:
        output += reasoning  # reasoning reported beside output rather than inside it
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    model = text(attrs, "gen_ai.response.model", "gen_ai.request.model") or "unknown"
    provider = text(attrs, "gen_ai.provider.name", "gen_ai.system")
    key = event_id("span", trace_id, span_id) if trace_id and span_id else event_id(
        "span", fingerprint(span.name, span.start_time_unix_nano, model, total_in, output))
    latency = None
    if span.end_time_unix_nano > span.start_time_unix_nano > 0:
        latency = min((span.end_time_unix_nano - span.start_time_unix_nano) // 1_000_000, 86_400_000)
    return Call("genai", key, model, text(attrs, "gen_ai.conversation.id") or trace_id or None,
                text(attrs, "gen_ai.agent.name") or text(resource, "service.name"),
                _PROVIDERS.get(provider.lower(), provider) if provider else None,
                from_unix_nano(span.start_time_unix_nano), attrs, outcome="error" if failed else "ok",
                latency_ms=latency, input_tokens=total_in, output_tokens=output, cache_read_tokens=read,
                cache_write_tokens=write, reasoning_tokens=reasoning)
