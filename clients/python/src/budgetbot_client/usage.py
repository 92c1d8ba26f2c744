"""Turn a provider SDK response (or its usage) into the fields of a budgetbot usage event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Gemini's usage_metadata, in the SDK's snake_case and the REST API's camelCase.
_GEMINI_FIELDS = {
    "prompt_token_count": "prompt",
    "promptTokenCount": "prompt",
    "candidates_token_count": "candidates",
    "candidatesTokenCount": "candidates",
    "cached_content_token_count": "cached",
    "cachedContentTokenCount": "cached",
    "thoughts_token_count": "thoughts",
    "thoughtsTokenCount": "thoughts",
    "tool_use_prompt_token_count": "tool_prompt",
    "toolUsePromptTokenCount": "tool_prompt",
}
_USAGE_MARKERS = {"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"}


class UsageError(ValueError):
    """The object handed to record() carries no token counts budgetbot understands."""


def as_dict(value: Any) -> Any:
    """A plain dict of an SDK object (pydantic `model_dump`, proto-plus `to_dict`), or the value itself."""
    if value is None or isinstance(value, (dict, str, int, float, bool, list)):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    to_dict = getattr(type(value), "to_dict", None)  # proto-plus messages (older google-generativeai)
    if callable(to_dict):
        try:
            return to_dict(value)
        except TypeError:
            pass
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return value


def _plain(value: Any) -> Any:
    """Nested SDK objects as dicts. None values stay: the server tells Anthropic's shape by its cache keys."""
    if isinstance(value, Mapping):
        return {str(k): _plain(as_dict(v)) for k, v in value.items()}
    return value


def is_gemini_usage(usage: Mapping[str, Any]) -> bool:
    return any(name in usage for name in _GEMINI_FIELDS)


def gemini_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """Gemini usage_metadata -> budgetbot's normalized counts.

    Gemini's prompt count includes the cached part (as budgetbot's input does); its candidates count
    excludes thinking, which is billed as output, so thoughts are added to output and kept as reasoning.
    """
    seen: dict[str, int] = {}
    for name, role in _GEMINI_FIELDS.items():
        if usage.get(name) is not None:
            seen[role] = int(usage[name])
    thoughts = seen.get("thoughts", 0)
    return {
        "input_tokens": seen.get("prompt", 0) + seen.get("tool_prompt", 0),
        "output_tokens": seen.get("candidates", 0) + thoughts,
        "cache_read_tokens": seen.get("cached", 0),
        "reasoning_tokens": thoughts,
    }


def usage_fields(response_or_usage: Any) -> tuple[dict[str, Any], str | None]:
    """(event fields with the token counts, model named by the response or None)."""
    data = as_dict(response_or_usage)
    if not isinstance(data, Mapping):
        raise UsageError(f"cannot read token usage from a {type(response_or_usage).__name__}")
    model = data.get("model") or data.get("model_version") or data.get("modelVersion")
    usage: Any = data
    for key in ("usage", "usage_metadata", "usageMetadata"):
        if data.get(key) is not None:
            usage = as_dict(data[key])
            break
    if not isinstance(usage, Mapping):
        raise UsageError("the response's usage is not an object")
    model = model if isinstance(model, str) and model else None
    if is_gemini_usage(usage):
        return gemini_counts(usage), model
    if not (_USAGE_MARKERS & usage.keys()):
        raise UsageError("no token counts found: pass the SDK response, its usage, or its usage_metadata")
    # OpenAI and Anthropic usage go through as they are: the server knows both shapes.
    return {"usage": _plain(usage)}, model
