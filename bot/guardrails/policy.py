"""The guardrail policy: caps per run, per agent and organisation day, and per month, with overrides, resolved."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.ledger.budgets import usd_to_nano


def _number(value: Any) -> Decimal:
    # TOML floats are binary: go through str() so 2.5 is exactly 2.5 dollars.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return Decimal(str(value))


Count = Annotated[int, Field(strict=True, gt=0)]
Number = Annotated[Decimal, BeforeValidator(_number), Field(gt=0)]
Fraction = Annotated[Decimal, BeforeValidator(_number), Field(gt=0, le=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCaps(_Section):
    """[run]: caps on one agent run (run_id); wall time counts from the run's first call."""

    max_tokens: Count | None = None
    max_usd: Number | None = None
    max_tool_calls: Count | None = None
    max_wall_minutes: Number | None = None
    max_consecutive_errors: Count | None = None


class DayCaps(_Section):
    """[day] (each agent) and [org_day] (everyone): caps per day in BUDGETBOT_TIMEZONE."""

    max_tokens: Count | None = None
    max_usd: Number | None = None
    max_calls: Count | None = None


class MonthBudget(_Section):
    """[month]: the organisation's monthly budget; block at `block_at` of it, warn from `warn_at`."""

    budget_usd: Number | None = None
    block_at: Fraction = Decimal("0.9")
    warn_at: Fraction | None = None  # default: the policy's warn_at

    @model_validator(mode="after")
    def _warn_before_block(self) -> MonthBudget:
        if self.warn_at is not None and self.warn_at > self.block_at:
            raise ValueError("warn_at must not be above block_at")
        return self


class Override(_Section):
    """[projects.PROJ] / [labels.NAME]: run caps for the stories of a project or with a Jira label."""

    run: RunCaps = RunCaps()


class AgentOverride(Override):
    """[agents.NAME]: run caps and daily caps for one agent."""

    day: DayCaps = DayCaps()


class PolicyFile(_Section):
    """The whole TOML file."""

    warn_at: Fraction | None = None  # default: BUDGETBOT_WARN_THRESHOLD
    run: RunCaps = RunCaps()
    day: DayCaps = DayCaps()
    org_day: DayCaps = DayCaps()
    month: MonthBudget = MonthBudget()
    agents: dict[str, AgentOverride] = {}
    projects: dict[str, Override] = {}
    labels: dict[str, Override] = {}


@dataclass(frozen=True)
class Limits:
    """The caps that apply to one (agent, story) pair; None = no cap. Money in nano-dollars."""

    warn_at: Decimal = Decimal("0.8")
    run_max_tokens: int | None = None
    run_max_nano_usd: int | None = None
    run_max_tool_calls: int | None = None
    run_max_wall_seconds: int | None = None
    max_consecutive_errors: int = 3
    day_max_tokens: int | None = None
    day_max_nano_usd: int | None = None
    day_max_calls: int | None = None
    org_day_max_tokens: int | None = None
    org_day_max_nano_usd: int | None = None
    org_day_max_calls: int | None = None
    month_budget_nano_usd: int | None = None
    month_block_at: Decimal = Decimal("0.9")
    month_warn_at: Decimal = Decimal("0.8")
    source: dict[str, str] = field(default_factory=dict, compare=False)  # limit -> where it was set


def _run_values(caps: RunCaps) -> dict[str, Any]:
    values = {"run_max_tokens": caps.max_tokens, "run_max_tool_calls": caps.max_tool_calls,
              "max_consecutive_errors": caps.max_consecutive_errors,
              "run_max_nano_usd": None if caps.max_usd is None else usd_to_nano(caps.max_usd),
              "run_max_wall_seconds": None if caps.max_wall_minutes is None else int(caps.max_wall_minutes * 60)}
    return {k: v for k, v in values.items() if v is not None}


def _day_values(caps: DayCaps, prefix: str) -> dict[str, Any]:
    values = {f"{prefix}_max_tokens": caps.max_tokens, f"{prefix}_max_calls": caps.max_calls,
              f"{prefix}_max_nano_usd": None if caps.max_usd is None else usd_to_nano(caps.max_usd)}
    return {k: v for k, v in values.items() if v is not None}


def _apply(limits: Limits, values: dict[str, Any], source: str) -> Limits:
    if not values:
        return limits
    return replace(limits, **values, source={**limits.source, **dict.fromkeys(values, source)})


class Policy:
    """A validated policy file (or none) over the BUDGETBOT_* defaults; `limits()` resolves and caches."""

    def __init__(self, settings, document: PolicyFile | None = None, path: str | None = None) -> None:
        self.document = document or PolicyFile()
        self.path = path
        doc = self.document
        env = {"warn_at": settings.warn_threshold, "max_consecutive_errors": settings.max_consecutive_errors,
               "run_max_tokens": settings.run_max_tokens, "run_max_tool_calls": settings.run_max_tool_calls,
               "run_max_nano_usd": None if settings.run_max_usd is None else usd_to_nano(settings.run_max_usd),
               "month_warn_at": settings.warn_threshold}
        base = _apply(Limits(), {k: v for k, v in env.items() if v is not None}, "environment")
        top: dict[str, Any] = {**_run_values(doc.run), **_day_values(doc.day, "day"),
                               **_day_values(doc.org_day, "org_day"), "month_block_at": doc.month.block_at}
        if doc.warn_at is not None:
            top["warn_at"] = top["month_warn_at"] = doc.warn_at
        if doc.month.warn_at is not None:
            top["month_warn_at"] = doc.month.warn_at
        if doc.month.budget_usd is not None:
            top["month_budget_nano_usd"] = usd_to_nano(doc.month.budget_usd)
        self.base = _apply(base, top, "policy")
        self._projects = {name.upper(): item for name, item in doc.projects.items()}
        self._cache: dict[tuple, Limits] = {}

    def limits(self, agent: str | None = None, project: str | None = None, labels: tuple[str, ...] = ()) -> Limits:
        """Defaults, then the story's project, then its labels (in file order), then the agent: later wins."""
        key = (agent, project, labels)
        found = self._cache.get(key)
        if found is not None:
            return found
        limits = self.base
        if project and project in self._projects:
            limits = _apply(limits, _run_values(self._projects[project].run), f"projects.{project}")
        for name, item in self.document.labels.items():
            if name in labels:
                limits = _apply(limits, _run_values(item.run), f"labels.{name}")
        if agent and agent in self.document.agents:
            item = self.document.agents[agent]
            limits = _apply(limits, {**_run_values(item.run), **_day_values(item.day, "day")}, f"agents.{agent}")
        if len(self._cache) > 10_000:  # agents and stories are few; a flood of made-up names must not grow memory
            self._cache.clear()
        self._cache[key] = limits
        return limits


LIMIT_NAMES = [f.name for f in fields(Limits) if f.name != "source"]
