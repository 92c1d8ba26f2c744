"""The usage event as agents send it: validation, and normalization of OpenAI/Anthropic/Gemini usage objects."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.ledger.keys import InvalidStoryKey, normalize_key
from bot.ledger.pricing import TokenCounts

# Strict: JSON `true`, `"100"` and `100.0` are not token counts (lax mode would count `true` as 1).
Count = Annotated[StrictInt, Field(ge=0, le=10**10)]
# The default (None) is given at each field: the pydantic mypy plugin does not see a default inside Annotated.
OptionalCount = Annotated[StrictInt | None, Field(ge=0, le=10**10)]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_MAX_FUTURE = timedelta(minutes=5)
MAX_ATTRIBUTES = 20
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 256


class _Usage(BaseModel):
    # SDKs add usage fields every few months: ignore what we do not know, never fail on it.
    model_config = ConfigDict(extra="ignore")


class _PromptDetails(_Usage):
    cached_tokens: OptionalCount = None
    cache_write_tokens: OptionalCount = None


class _CompletionDetails(_Usage):
    reasoning_tokens: OptionalCount = None


class OpenAIChatUsage(_Usage):
    """`response.usage` of OpenAI Chat Completions (prompt_tokens includes cached tokens)."""

    prompt_tokens: Count
    completion_tokens: Count
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None

    def counts(self) -> TokenCounts:
        prompt = self.prompt_tokens_details or _PromptDetails()
        completion = self.completion_tokens_details or _CompletionDetails()
        return TokenCounts(
            input=self.prompt_tokens,
            output=self.completion_tokens,
            cache_read=prompt.cached_tokens or 0,
            cache_write=prompt.cache_write_tokens or 0,
            reasoning=completion.reasoning_tokens or 0,
        )


class OpenAIResponsesUsage(_Usage):
    """`response.usage` of the OpenAI Responses API (input_tokens includes cached tokens)."""

    input_tokens: Count
    output_tokens: Count
    input_tokens_details: _PromptDetails | None = None
    output_tokens_details: _CompletionDetails | None = None

    def counts(self) -> TokenCounts:
        details = self.input_tokens_details or _PromptDetails()
        output = self.output_tokens_details or _CompletionDetails()
        return TokenCounts(
            input=self.input_tokens,
            output=self.output_tokens,
            cache_read=details.cached_tokens or 0,
            cache_write=details.cache_write_tokens or 0,
            reasoning=output.reasoning_tokens or 0,
        )


class _CacheCreation(_Usage):
    ephemeral_5m_input_tokens: OptionalCount = None
    ephemeral_1h_input_tokens: OptionalCount = None


class AnthropicUsage(_Usage):
    """`message.usage` of the Anthropic Messages API: input_tokens EXCLUDES cache reads and writes."""

    input_tokens: Count
    output_tokens: Count
    cache_creation_input_tokens: OptionalCount = None
    cache_read_input_tokens: OptionalCount = None
    cache_creation: _CacheCreation | None = None
    service_tier: str | None = None

    def counts(self) -> TokenCounts:
        write = self.cache_creation_input_tokens or 0
        read = self.cache_read_input_tokens or 0
        write_1h = (self.cache_creation.ephemeral_1h_input_tokens or 0) if self.cache_creation else 0
        return TokenCounts(
            input=self.input_tokens + write + read,
            output=self.output_tokens,
            cache_read=read,
            cache_write=write,
            cache_write_1h=min(write_1h, write),
        )


class GeminiUsage(_Usage):
    """`response.usage_metadata` of Gemini (google-genai): prompt_token_count INCLUDES cached content;
    thoughts_token_count is NOT part of candidates_token_count (total = prompt + candidates + tool-use
    prompt + thoughts), so output is candidates + thoughts, as Google bills it."""

    prompt_token_count: Count = 0
    candidates_token_count: Count = 0
    cached_content_token_count: OptionalCount = None
    thoughts_token_count: OptionalCount = None
    tool_use_prompt_token_count: OptionalCount = None

    def counts(self) -> TokenCounts:
        thoughts = self.thoughts_token_count or 0
        return TokenCounts(
            input=self.prompt_token_count + (self.tool_use_prompt_token_count or 0),
            output=self.candidates_token_count + thoughts,
            cache_read=self.cached_content_token_count or 0,
            reasoning=thoughts,
        )


_GEMINI_MARKERS = {"prompt_token_count", "candidates_token_count", "total_token_count", "thoughts_token_count"}
_ANTHROPIC_MARKERS = {"cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "server_tool_use"}


def _usage_shape(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serializing an already parsed event
        return _TAG_OF_MODEL.get(type(value))
    if not isinstance(value, dict):
        return None
    if "prompt_tokens" in value or "completion_tokens" in value:
        return "openai_chat"
    if _GEMINI_MARKERS & value.keys():
        return "gemini"
    if _ANTHROPIC_MARKERS & value.keys():
        return "anthropic"
    return "openai_responses"  # also right for a bare {input_tokens, output_tokens}: no cache to misread


ProviderUsage = Annotated[
    Annotated[OpenAIChatUsage, Tag("openai_chat")] | Annotated[OpenAIResponsesUsage, Tag("openai_responses")]
    | Annotated[AnthropicUsage, Tag("anthropic")] | Annotated[GeminiUsage, Tag("gemini")],
    Discriminator(_usage_shape, custom_error_type="usage_shape",
                  custom_error_message="usage must be an OpenAI, Anthropic or Gemini usage object"),
]
_TAG_OF_MODEL: dict[type[BaseModel], str] = {OpenAIChatUsage: "openai_chat", OpenAIResponsesUsage: "openai_responses",
                 AnthropicUsage: "anthropic", GeminiUsage: "gemini"}
USAGE_TAGS = set(_TAG_OF_MODEL.values())


class UsageEventIn(BaseModel):
    """One model call. Give token counts either normalized or as the provider's own `usage` object."""

    # A typo on the envelope (`inptu_tokens`) must fail loudly rather than count as 0.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=200, description="Client-chosen idempotency key")
    story: str | None = Field(default=None, description="Jira issue key, e.g. PROJ-123 (case-insensitive)")
    model: str = Field(min_length=1, max_length=200)
    provider: str | None = Field(default=None, max_length=100)
    agent: str | None = Field(default=None, max_length=200)
    run_id: str | None = Field(default=None, max_length=200)
    occurred_at: AwareDatetime | None = Field(default=None, description="RFC 3339 with offset; default: now")
    outcome: Literal["ok", "error"] = "ok"
    latency_ms: StrictInt | None = Field(default=None, ge=0, le=86_400_000)
    tool_calls: StrictInt = Field(default=0, ge=0, le=1_000_000)
    attributes: dict[str, str] = Field(default_factory=dict, description="team, project, cost_center, ...")
    cost_usd: Decimal | None = Field(default=None, ge=0, le=1_000_000, description="Client-known price (kept)")
    input_tokens: OptionalCount = None
    output_tokens: OptionalCount = None
    cache_read_tokens: OptionalCount = None
    cache_write_tokens: OptionalCount = None
    reasoning_tokens: OptionalCount = None
    usage: ProviderUsage | None = None
    reservation_id: str | None = Field(default=None, max_length=32,
                                       description="From the preflight that allowed this call; settles it")

    @field_validator("story")
    @classmethod
    def _story_key(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            return normalize_key(value)
        except InvalidStoryKey as exc:
            raise ValueError(str(exc)) from None

    @field_validator("occurred_at")
    @classmethod
    def _sane_time(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)  # 9999-12-31T23:59-05:00 has no UTC: an error here, not a 500 later
        except (OverflowError, ValueError):
            raise ValueError("occurred_at is out of range") from None
        if utc < EARLIEST:
            raise ValueError("occurred_at is before 2000-01-01: not a model call")
        max_future = (info.context or {}).get("max_future", DEFAULT_MAX_FUTURE)
        if utc > datetime.now(UTC) + max_future:
            raise ValueError(f"occurred_at is more than {int(max_future.total_seconds())} s in the future "
                             "(check the sender's clock)")
        return value  # as sent (offset kept): the content hash of a retry must not change

    @field_validator("attributes")
    @classmethod
    def _bounded_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        for key, item in value.items():
            if not key or len(key) > MAX_ATTRIBUTE_KEY:
                raise ValueError(f"attribute names must be 1-{MAX_ATTRIBUTE_KEY} characters: {key[:80]!r}")
            if len(item) > MAX_ATTRIBUTE_VALUE:
                raise ValueError(f"attribute {key!r} is longer than {MAX_ATTRIBUTE_VALUE} characters")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _one_way_of_counting(self) -> UsageEventIn:
        normalized = [self.input_tokens, self.output_tokens, self.cache_read_tokens,
                      self.cache_write_tokens, self.reasoning_tokens]
        given = any(v is not None for v in normalized)
        if given and self.usage is not None:
            raise ValueError("give token counts either as input_tokens/output_tokens/... or as usage, not both")
        if not given and self.usage is None:
            raise ValueError("token counts missing: give input_tokens and output_tokens, or a provider usage object")
        counts = self.counts()
        if counts.cache_read + counts.cache_write > counts.input:
            raise ValueError("cache_read_tokens + cache_write_tokens exceed input_tokens (input includes cached)")
        if counts.reasoning > counts.output:
            raise ValueError("reasoning_tokens exceed output_tokens (output includes reasoning)")
        return self

    def counts(self) -> TokenCounts:
        if self.usage is not None:
            return self.usage.counts()
        return TokenCounts(
            input=self.input_tokens or 0,
            output=self.output_tokens or 0,
            cache_read=self.cache_read_tokens or 0,
            cache_write=self.cache_write_tokens or 0,
            reasoning=self.reasoning_tokens or 0,
        )

    @property
    def is_batch_tier(self) -> bool:
        return isinstance(self.usage, AnthropicUsage) and self.usage.service_tier == "batch"

    def content_hash(self) -> str:
        """Fingerprint of what the client sent (defaults excluded), to tell a retry from a clash."""
        # Field order is fixed by the model and attributes are stored sorted, so the JSON is canonical.
        return hashlib.sha256(self.model_dump_json(exclude_unset=True).encode()).hexdigest()


class UsageBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[UsageEventIn] = Field(min_length=1)


class BatchInvalid(ValueError):
    """The batch failed validation; `errors` are [{"path": "events[3].usage.prompt_tokens", "message": ...}]."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


def parse_usage_body(body: Any, max_events: int, max_future: timedelta = DEFAULT_MAX_FUTURE,
                     ) -> tuple[list[UsageEventIn], bool]:
    """Validate one event or {"events": [...]}; `occurred_at` may lie at most `max_future` ahead.
    Returns (events, was_batch)."""
    is_batch = isinstance(body, dict) and "events" in body
    if is_batch and isinstance(body["events"], list) and len(body["events"]) > max_events:
        raise BatchInvalid([{"path": "events", "message": f"at most {max_events} events per request"}])
    context = {"max_future": max_future}
    try:
        if is_batch:
            events = UsageBatchIn.model_validate(body, context=context).events
        else:
            events = [UsageEventIn.model_validate(body, context=context)]
    except ValidationError as exc:
        raise BatchInvalid([{"path": _path(e["loc"]), "message": e["msg"]} for e in exc.errors()]) from None
    return events, is_batch


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if part in USAGE_TAGS:
            continue  # the union's tag is our bookkeeping, not a field the client sent
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"
