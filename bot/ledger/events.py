"""Domain events: what the ledger announces inside the transaction that made a change.

Integrations and reports subscribe (on their app's `EventBus`); the ledger never knows who listens. The bus
travels with the session (`session.info["events"]`, set by the app's `Database`), so a session made without
an app announces to nobody, and two apps in one process never hear each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.ledger.budgets import Status
from bot.ledger.tables import StoryView

SPEND_CHANGED = "spend_changed"  # a list of StoryChange: the stories whose totals moved
BUDGET_CHANGED = "budget_changed"  # a list of one StoryChange: the story whose budget was set
USAGE_RECORDED = "usage_recorded"  # the ledger rows (dicts, as inserted) of the events just accepted
RUNS_UPDATED = "runs_updated"  # a RollupTotals: the run and (day, agent) totals the batch moved
BUS_KEY = "events"


@dataclass(frozen=True)
class StoryChange:
    """A story whose spend or budget just changed, with its status before and after the change.

    `story` is a read-only view of the story row as it stands after the change (attribute access like
    the `Story` model); to change the story, load it with `session.get(Story, change.story.key)`."""

    story: StoryView  # a Story, or the Core row of one (see StoryView)
    before: Status
    after: Status

    @property
    def crossed_over(self) -> bool:
        return self.after == Status.OVER and self.before != Status.OVER

    @property
    def came_back(self) -> bool:
        return self.before == Status.OVER and self.after != Status.OVER


@dataclass(frozen=True)
class RollupTotals:
    """The inputs of the ingest-time anomaly rules: the batch's runs and (day, agent) rows as they now stand."""

    runs: list[Any]  # scrum_runs rows
    agent_days: list[tuple]  # (day, agent, nano_usd)


Listener = Callable[[Session, Any], None]


class EventBus:
    """Listeners per event. A listener runs inside the transaction that made the change, so what it enqueues
    commits (or rolls back) together with that change."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)

    def listen(self, event: str, listener: Listener) -> None:
        if listener not in self._listeners[event]:
            self._listeners[event].append(listener)

    def emit(self, event: str, session: Session, payload: Any) -> None:
        for listener in self._listeners.get(event, ()):
            listener(session, payload)


def emit(event: str, session: Session, payload: Any) -> None:
    """Announce `payload` to the listeners of the session's app; nothing to announce, nothing is called."""
    bus = session.info.get(BUS_KEY)
    if bus is not None and payload:
        bus.emit(event, session, payload)
