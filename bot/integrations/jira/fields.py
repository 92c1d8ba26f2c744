"""Jira custom fields found by name (GET /field), never hard-coded; cached per process for an hour."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bot.config import Settings

SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
CACHE_SECONDS = 3600.0
ERROR_CACHE_SECONDS = 300.0  # a missing field is re-checked every 5 minutes, not on every webhook


class FieldError(ValueError):
    """A configured field is missing, ambiguous or of the wrong type; the message says how to fix it."""


@dataclass(frozen=True)
class JiraField:
    id: str
    name: str
    type: str | None  # schema.type: number, string, array, ...
    custom: str | None  # schema.custom: the custom field type key


@dataclass(frozen=True)
class FieldMap:
    budget: JiraField
    spend: JiraField
    spend_usd: JiraField | None
    story_points: JiraField | None
    sprint: JiraField | None
    names: dict[str, list[str]] = field(default_factory=dict)  # lower-cased name -> ids (for changelogs)
    warnings: tuple[str, ...] = ()

    def ids_named(self, name: str) -> list[str]:
        return self.names.get(name.strip().lower(), [])

    def wanted(self) -> list[str]:
        """Field ids a search must return: only these, never `*all`."""
        ids = ["summary", "status", "assignee", "resolutiondate", "labels", self.budget.id, self.spend.id]
        ids += [f.id for f in (self.spend_usd, self.story_points, self.sprint) if f]
        return ids


def _as_field(raw: dict) -> JiraField:
    schema = raw.get("schema") or {}
    return JiraField(raw["id"], raw.get("name") or raw["id"], schema.get("type"), schema.get("custom"))


def find_field(fields: list[dict], name: str, setting: str) -> JiraField:
    """The one field called `name` (case-insensitive). Missing or ambiguous raises FieldError."""
    matches = [f for f in fields if (f.get("name") or "").strip().lower() == name.strip().lower()]
    if not matches:
        raise FieldError(f"Jira has no field named {name!r}: create it with `budgetbot jira setup`, or set "
                         f"{setting} to the name of an existing field")
    if len(matches) > 1:
        ids = ", ".join(sorted(f["id"] for f in matches))
        raise FieldError(f"{len(matches)} Jira fields are named {name!r} ({ids}): rename all but one, or set "
                         f"{setting} to a unique name")
    return _as_field(matches[0])


def _typed(found: JiraField, allowed: set[str], setting: str, what: str) -> JiraField:
    if found.type not in allowed:
        raise FieldError(f"field {found.name!r} ({found.id}) is a {found.type or 'unknown'} field; {what} needs "
                         f"a {' or '.join(sorted(allowed))} field (see {setting})")
    return found


def resolve(fields: list[dict], settings: Settings) -> FieldMap:
    """Map the configured names onto the site's field list. Required fields raise FieldError."""
    budget = _typed(find_field(fields, settings.jira_budget_field, "BUDGETBOT_JIRA_BUDGET_FIELD"),
                    {"number", "string"}, "BUDGETBOT_JIRA_BUDGET_FIELD", "the budget")
    spend = _typed(find_field(fields, settings.jira_spend_field, "BUDGETBOT_JIRA_SPEND_FIELD"),
                   {"number"}, "BUDGETBOT_JIRA_SPEND_FIELD", "Token Spend (searchable with JQL `>`)")
    spend_usd = None
    if settings.jira_spend_usd_field:
        spend_usd = _typed(find_field(fields, settings.jira_spend_usd_field, "BUDGETBOT_JIRA_SPEND_USD_FIELD"),
                           {"number"}, "BUDGETBOT_JIRA_SPEND_USD_FIELD", "USD spend")
    warnings: list[str] = []
    points = _optional(fields, settings.jira_story_points_field, "BUDGETBOT_JIRA_STORY_POINTS_FIELD", warnings)
    sprints = [f for f in fields if (f.get("schema") or {}).get("custom") == SPRINT_TYPE]
    sprint = _as_field(sprints[0]) if len(sprints) == 1 else _optional(
        fields, settings.jira_sprint_field, "BUDGETBOT_JIRA_SPRINT_FIELD", warnings)
    names: dict[str, list[str]] = {}
    for raw in fields:
        names.setdefault((raw.get("name") or "").strip().lower(), []).append(raw["id"])
    return FieldMap(budget, spend, spend_usd, points, sprint, names, tuple(warnings))


def _optional(fields: list[dict], name: str, setting: str, warnings: list[str]) -> JiraField | None:
    try:
        return find_field(fields, name, setting)
    except FieldError as exc:
        warnings.append(f"{exc} (optional: without it this is not recorded)")
        return None


_cache: dict[tuple, tuple[float, FieldMap | FieldError]] = {}
_lock = threading.Lock()


def field_map(client, settings: Settings, *, refresh: bool = False) -> FieldMap:
    """The resolved fields of this Jira site (one GET {api}/field per hour per process)."""
    key = (client.base, client.api, settings.jira_budget_field, settings.jira_spend_field,
           settings.jira_spend_usd_field, settings.jira_story_points_field, settings.jira_sprint_field)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached and not refresh and cached[0] > now:
        if isinstance(cached[1], FieldError):
            raise cached[1]
        return cached[1]
    try:
        resolved = resolve(client.fields(), settings)
    except FieldError as exc:
        with _lock:
            _cache[key] = (now + ERROR_CACHE_SECONDS, exc)
        raise
    with _lock:
        _cache[key] = (now + CACHE_SECONDS, resolved)
    return resolved


def status() -> str:
    """For /healthz: the last field look-up's outcome in this process (no request is made)."""
    with _lock:
        latest = max(_cache.values(), key=lambda entry: entry[0], default=None)
    if latest is None:
        return "not looked up yet"
    return str(latest[1]) if isinstance(latest[1], FieldError) else "ok"


def clear_cache() -> None:
    with _lock:
        _cache.clear()
