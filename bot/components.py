"""The one contract every part of budgetbot plugs in through, and the per-app registry it fills.

A component (the web layer, guardrails, the outbox, each integration, each report) is a `Component` in its
package's `__init__.py`. `create_app` calls each one's `init_app(app, registry)`, where it registers its
blueprints on the app and its listeners, outbox senders, health details, clock jobs and processes on the
app's `Registry` — never in module globals, so two apps in one process (the tests) share nothing. Its CLI
commands are collected by `bot.cli.main` without building an app, so `budgetbot --help` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import click
    from flask import Flask
    from sqlalchemy.orm import Session

    from bot.config import Settings
    from bot.ledger.events import EventBus

# Start order: a component may rely on those before it (the outbox before the integrations that enqueue).
COMPONENTS = (
    "bot.web",
    "bot.guardrails",
    "bot.outbox",
    "bot.processes",
    "bot.integrations.github",
    "bot.integrations.jira",
    "bot.integrations.slack",
    "bot.integrations.otel",
    "bot.reports.scrum",
    "bot.reports.retro",
)
REGISTRY_KEY = "budgetbot.registry"


class SenderSet(Protocol):
    """The outbox senders of one integration (`bot.outbox.SenderSet`): kind -> fn(payload, ctx)."""

    integration: str
    kinds: dict[str, Callable[..., dict | None]]


@dataclass(frozen=True)
class Component:
    """What one part of budgetbot contributes. Both hooks import the part's modules only when called."""

    name: str
    init_app: Callable[[Flask, Registry], None] | None = None
    commands: Callable[[], Iterable[click.Command]] | None = None


@dataclass(frozen=True)
class Job:
    """A periodic clock job: `fn(app)` on `trigger` (an APScheduler trigger, or fn(settings) -> one)."""

    name: str
    fn: Callable[[Flask], object]
    trigger: Any
    grace_seconds: int | Callable[[Settings], int] | None = None  # how late a missed run may still start


@dataclass(frozen=True)
class SenderRegistration:
    kind: str
    integration: str
    send: Callable[..., dict | None]


def _event_bus() -> EventBus:
    # The ledger (and SQLAlchemy with it) loads when an app is built, not when `bot.cli.main` collects commands.
    from bot.ledger.events import EventBus

    return EventBus()


@dataclass
class Registry:
    """Everything the components of one app registered."""

    events: EventBus = field(default_factory=_event_bus)
    senders: dict[str, SenderRegistration] = field(default_factory=dict)
    # integration name -> is_configured(settings): an integration without credentials only records requests.
    integrations: dict[str, Callable[[Settings], bool]] = field(default_factory=dict)
    health: dict[str, Callable[[Session], object]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    # process name -> argv(options) for `budgetbot run`, in start order.
    processes: dict[str, Callable[[Any], list[str]]] = field(default_factory=dict)

    def add_integration(self, name: str, is_configured: Callable[[Settings], bool],
                        senders: SenderSet | None = None) -> None:
        self.integrations[name] = is_configured
        if senders is not None:
            self.add_senders(senders)

    def add_senders(self, senders: SenderSet) -> None:
        for kind, send in senders.kinds.items():
            self.senders[kind] = SenderRegistration(kind, senders.integration, send)

    def add_job(self, name: str, fn: Callable[[Flask], object], trigger: Any,
                grace_seconds: int | Callable[[Settings], int] | None = None) -> None:
        """Add a periodic job; a name registered again replaces the earlier job."""
        self.jobs[name] = Job(name, fn, trigger, grace_seconds)

    def is_dry_run(self, settings: Settings, integration: str) -> bool:
        configured = self.integrations.get(integration)
        return bool(settings.dry_run) or configured is None or not configured(settings)

    def dry_run_integrations(self, settings: Settings) -> list[str]:
        """The integrations whose senders would only record their requests."""
        return [name for name in sorted(self.integrations) if self.is_dry_run(settings, name)]

    def kinds_of(self, integration: str) -> list[str]:
        return sorted(kind for kind, r in self.senders.items() if r.integration == integration)


def load_components() -> list[Component]:
    return [importlib.import_module(name).component for name in COMPONENTS]


def registry(app: Flask | None = None) -> Registry:
    """The registry of `app` (default: the current app)."""
    from flask import current_app  # see _event_bus: no Flask while the CLI collects its commands

    return (app or current_app).extensions[REGISTRY_KEY]
