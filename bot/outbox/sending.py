"""What a sender is given (SendContext) and how an integration declares its senders (SenderSet)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: integrations declare their senders at import, before any app exists
    from bot.config import Settings
    from bot.db import Database


@dataclass
class SendContext:
    """What a sender gets besides its payload."""

    settings: Settings
    dry_run: bool
    now: datetime
    recorded: list[dict] = field(default_factory=list)
    row_id: int | None = None
    attempt: int = 1  # 1 on the first try
    # The app's Database, for a sender that keeps its own state (e.g. the id of the comment it created):
    # `with ctx.db.transaction() as session: ...`. No transaction is open while a sender runs.
    db: Database | None = None

    def record(self, method: str, url: str, json: object = None) -> None:
        """In dry-run, note the exact request that would have been sent."""
        self.recorded.append({"method": method, "url": url, "json": json})


Sender = Callable[[dict, SendContext], "dict | None"]


class SenderSet:
    """The outbox senders of one integration, declared like a Flask blueprint (at module level, holding
    nothing of any app) and registered on an app with `registry.add_integration(name, is_configured, senders)`."""

    def __init__(self, integration: str) -> None:
        self.integration = integration
        self.kinds: dict[str, Sender] = {}

    def sender(self, kind: str) -> Callable[[Sender], Sender]:
        """Declare the function that sends rows of `kind`: `fn(payload, ctx) -> dict | None`."""

        def declare(fn: Sender) -> Sender:
            self.kinds[kind] = fn
            return fn

        return declare
