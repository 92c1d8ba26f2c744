"""Preflight's request and answer shapes, and the figures the judgement reads (filled from the rollups)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.ledger.keys import InvalidStoryKey, normalize_key

ALLOW, WARN, BLOCK = "allow", "warn", "block"
RANK = {ALLOW: 0, WARN: 1, BLOCK: 2}


class PreflightIn(BaseModel):
    """Body of POST /api/v1/preflight: who is about to make which call, and (optionally) how big it is."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    story: str | None = Field(default=None, description="Jira key the call is for", examples=["PROJ-123"])
    agent: str | None = Field(default=None, max_length=200, examples=["coder"])
    run_id: str | None = Field(default=None, max_length=200, examples=["r-7"])
    model: str | None = Field(default=None, max_length=200, examples=["claude-sonnet-4-5"])
    estimated_tokens: int | None = Field(default=None, ge=0, le=10**10,
                                         description="Tokens the coming call may use; an allow reserves them")
    estimated_usd: Decimal | None = Field(default=None, ge=0, le=1_000_000,
                                          description="Dollars the coming call may cost; an allow reserves them")

    @field_validator("story")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return normalize_key(value)
        except InvalidStoryKey as exc:
            raise ValueError(str(exc)) from None

    @property
    def has_estimate(self) -> bool:
        return bool(self.estimated_tokens) or bool(self.estimated_usd)


@dataclass(frozen=True)
class Reason:
    """Why preflight did not simply allow: a machine-readable code, the limit, the figure and a sentence."""

    code: str
    decision: str
    message: str
    limit: int | str | None = None  # tokens/calls/seconds as integers, dollars as a decimal string
    figure: int | str | None = None  # what was used (reserved headroom of other calls included)
    unit: str | None = None  # tokens | usd | calls | tool_calls | seconds | errors

    @property
    def check(self) -> str:
        """The coarser name of v1's answers (`story_budget`), kept so existing clients keep working."""
        return "story_budget" if self.code.startswith("story_budget") else self.code

    def as_json(self) -> dict:
        return {"code": self.code, "check": self.check, "decision": self.decision, "limit": self.limit,
                "figure": self.figure, "unit": self.unit, "message": self.message}


@dataclass(frozen=True)
class Spent:
    """Tokens, nano-dollars and calls in some scope, plus what other calls have reserved in it."""

    tokens: int = 0
    nano_usd: int = 0
    calls: int = 0
    reserved_tokens: int = 0
    reserved_nano_usd: int = 0


@dataclass(frozen=True)
class StoryFigures:
    key: str
    status: str  # a bot.ledger.budgets.Status value
    budget_tokens: int | None
    budget_nano_usd: int | None
    spent: Spent


@dataclass(frozen=True)
class RunFigures:
    run_id: str
    spent: Spent  # calls = events
    tool_calls: int = 0
    errors_since_ok: int = 0
    first_event_at: datetime | None = None


@dataclass(frozen=True)
class Figures:
    """Everything one preflight judges, read in a handful of primary-key or small-index lookups."""

    now: datetime
    day: str  # the team's local day, "2026-12-01"
    month: str  # "2026-12"
    breakers: list[tuple[str, str, str | None]] = field(default_factory=list)  # (label, reason, tripped_by)
    story: StoryFigures | None = None
    run: RunFigures | None = None
    agent_day: Spent = Spent()
    org_day: Spent = Spent()
    month_spent: Spent = Spent()
