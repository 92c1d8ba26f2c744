"""POST /api/v1/preflight: the circuit breaker an agent asks before each model call (allow, warn or block)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.db import get_db
from bot.guardrails.tables import Breaker
from bot.ledger.budgets import Status, nano_to_usd, usd_to_nano
from bot.ledger.ingest import judge_story
from bot.ledger.keys import InvalidStoryKey, normalize_key
from bot.ledger.tables import Story, UsageEvent
from bot.web.api import error, json_body
from bot.web.auth import require_token

bp = Blueprint("preflight", __name__, url_prefix="/api/v1")
ALLOW, WARN, BLOCK = "allow", "warn", "block"
_RANK = {ALLOW: 0, WARN: 1, BLOCK: 2}


class PreflightIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    story: str | None = None
    agent: str | None = Field(default=None, max_length=200)
    run_id: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)

    @field_validator("story")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return normalize_key(value)
        except InvalidStoryKey as exc:
            raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class Reason:
    check: str
    decision: str
    message: str


@dataclass(frozen=True)
class RunSoFar:
    tokens: int
    nano_usd: int
    tool_calls: int
    trailing_errors: int  # consecutive `error` outcomes at the end of the run


def judge_run(run: RunSoFar, *, max_tokens: int | None, max_usd: Decimal | None, max_tool_calls: int | None,
              max_consecutive_errors: int, warn_threshold: Decimal) -> list[Reason]:
    """Per-run caps and the runaway-loop signature (pure)."""
    reasons = []
    caps = [("run_tokens", run.tokens, max_tokens, lambda v: f"{v:,} tokens"),
            ("run_usd", run.nano_usd, usd_to_nano(max_usd) if max_usd else None, lambda v: f"${nano_to_usd(v)}"),
            ("run_tool_calls", run.tool_calls, max_tool_calls, lambda v: f"{v:,} tool calls")]
    for check, used, cap, show in caps:
        if cap is None:
            continue
        if used >= cap:
            reasons.append(Reason(check, BLOCK, f"run has used {show(used)}, its cap is {show(cap)}"))
        elif used >= warn_threshold * cap:
            reasons.append(Reason(check, WARN, f"run has used {show(used)} of its {show(cap)} cap"))
    if run.trailing_errors >= max_consecutive_errors:
        reasons.append(Reason("consecutive_errors", BLOCK,
                              f"the last {run.trailing_errors} calls of this run failed: likely a loop"))
    return reasons


def judge_story_budget(status: Status, key: str) -> list[Reason]:
    if status == Status.OVER:
        return [Reason("story_budget", BLOCK, f"{key} is over its token budget")]
    if status == Status.WARNING:
        return [Reason("story_budget", WARN, f"{key} has used most of its token budget")]
    return []


def decide(reasons: list[Reason]) -> str:
    return max((r.decision for r in reasons), key=_RANK.__getitem__, default=ALLOW)


def check(session: Session, request: PreflightIn, settings) -> list[Reason]:
    reasons = [Reason("kill_switch", BLOCK, f"kill switch on {b.label}: {b.reason}")
               for b in tripped_breakers(session, request)]
    if request.story:
        story = session.get(Story, request.story)
        if story is not None:
            reasons += judge_story_budget(judge_story(story, settings.warn_threshold).status, story.key)
    if request.run_id:
        reasons += judge_run(run_so_far(session, request.run_id, settings.max_consecutive_errors),
                             max_tokens=settings.run_max_tokens, max_usd=settings.run_max_usd,
                             max_tool_calls=settings.run_max_tool_calls,
                             max_consecutive_errors=settings.max_consecutive_errors,
                             warn_threshold=settings.warn_threshold)
    return reasons


def tripped_breakers(session: Session, request: PreflightIn) -> list[Breaker]:
    scopes = [Breaker.scope == "all"]
    for scope, value in (("agent", request.agent), ("story", request.story), ("run", request.run_id)):
        if value:
            scopes.append((Breaker.scope == scope) & (Breaker.target == value))
    return list(session.scalars(select(Breaker).where(Breaker.cleared_at.is_(None), or_(*scopes))))


def run_so_far(session: Session, run_id: str, error_window: int) -> RunSoFar:
    tokens, nano, tools = session.execute(
        select(func.coalesce(func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens), 0),
               func.coalesce(func.sum(UsageEvent.cost_nano_usd), 0),
               func.coalesce(func.sum(UsageEvent.tool_calls), 0)).where(UsageEvent.run_id == run_id)).one()
    latest = session.scalars(select(UsageEvent.outcome).where(UsageEvent.run_id == run_id)
                             .order_by(UsageEvent.occurred_at.desc(), UsageEvent.id.desc()).limit(error_window))
    trailing = 0
    for outcome in latest:
        if outcome != "error":
            break
        trailing += 1
    return RunSoFar(int(tokens), int(nano), int(tools), trailing)


@bp.post("/preflight")
@require_token
def preflight():
    try:
        request = PreflightIn.model_validate(json_body())
    except ValidationError as exc:
        return error(400, "invalid_preflight", "fix these fields",
                     errors=[{"path": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                             for e in exc.errors()])
    with get_db().session_factory() as session:
        reasons = check(session, request, current_app.config["SETTINGS"])
    return jsonify(decision=decide(reasons), reasons=[asdict(r) for r in reasons])
