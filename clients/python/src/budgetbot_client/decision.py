"""What preflight answers: a Decision with its Reasons, and BudgetExceeded for a blocked call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

DecisionValue = Literal["allow", "warn", "block"]
ALLOW: Final = "allow"
WARN: Final = "warn"
BLOCK: Final = "block"
_VALUES = {ALLOW, WARN, BLOCK}


@dataclass(frozen=True)
class Reason:
    """One check that fired: `check` (also `code`), `message`, its own `decision`, and any other fields sent."""

    check: str
    message: str
    decision: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.check

    @classmethod
    def from_json(cls, raw: Any) -> Reason:
        if not isinstance(raw, Mapping):
            return cls(check="unknown", message=str(raw))
        check = raw.get("check") or raw.get("code") or "unknown"
        extra = {k: v for k, v in raw.items() if k not in ("check", "code", "message", "decision")}
        decision = raw.get("decision")
        return cls(check=str(check), message=str(raw.get("message", "")),
                   decision=decision if isinstance(decision, str) else None, extra=extra)

    def __str__(self) -> str:
        return f"{self.check}: {self.message}" if self.message else self.check


@dataclass(frozen=True)
class Decision:
    """Preflight's answer. `reached` is False when it came from the fail-open/fail-closed policy instead."""

    decision: DecisionValue
    reasons: tuple[Reason, ...] = ()
    reservation_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    reached: bool = True

    @property
    def allowed(self) -> bool:
        return self.decision != BLOCK

    @property
    def blocked(self) -> bool:
        return self.decision == BLOCK

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Decision:
        value = body.get("decision")
        if value not in _VALUES:
            raise ValueError(f"preflight answered an unknown decision {value!r}")
        reasons = body.get("reasons") or []
        reservation = body.get("reservation_id")
        return cls(decision=value, reasons=tuple(Reason.from_json(r) for r in reasons),
                   reservation_id=str(reservation) if reservation is not None else None, raw=dict(body))


class BudgetExceeded(Exception):
    """budgetbot blocked the next model call; `reasons` says why (over budget, kill switch, run cap...)."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.reasons = decision.reasons
        why = "; ".join(str(r) for r in decision.reasons) or "no reason given"
        super().__init__(f"budgetbot blocked this model call: {why}")
