"""In-transaction notifications: integrations react to spend or budget changes by enqueuing outbox rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Row
from sqlalchemy.orm import Session

from bot.ledger.budgets import Status
from bot.ledger.tables import Story


@dataclass(frozen=True)
class StoryChange:
    """A story whose spend or budget just changed, with its status before and after the change.

    `story` is a read-only view of the story row as it stands after the change (attribute access like
    the `Story` model); to change the story, load it with `session.get(Story, change.story.key)`."""

    story: Story | Row
    before: Status
    after: Status

    @property
    def crossed_over(self) -> bool:
        return self.after == Status.OVER and self.before != Status.OVER

    @property
    def came_back(self) -> bool:
        return self.before == Status.OVER and self.after != Status.OVER


Listener = Callable[[Session, list[StoryChange]], None]
SPEND_CHANGED = "spend_changed"  # listeners get the StoryChanges of the stories whose totals moved
BUDGET_CHANGED = "budget_changed"  # the StoryChange of a story whose budget was set
USAGE_RECORDED = "usage_recorded"  # the ledger rows (dicts, as inserted) of the events just accepted
_listeners: dict[str, list[Listener]] = defaultdict(list)


def listen(event: str) -> Callable[[Listener], Listener]:
    """Register a listener; it runs inside the transaction that made the change, so what it enqueues
    commits (or rolls back) together with that change."""

    def register(listener: Listener) -> Listener:
        if listener not in _listeners[event]:
            _listeners[event].append(listener)
        return listener

    return register


def emit(event: str, session: Session, changes: list) -> None:
    if not changes:
        return
    for listener in _listeners[event]:
        listener(session, changes)
