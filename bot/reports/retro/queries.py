"""The retro's reads: every figure is summed by the database (GROUP BY); Python only sees grouped rows."""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from bot.ledger.days import counted
from bot.ledger.tables import Story, UsageEvent
from bot.reports.retro.figures import Totals
from bot.reports.retro.period import Period

E = UsageEvent
TOKENS = E.input_tokens + E.output_tokens
UNPRICED = func.sum(case((E.priced.is_(False), 1), else_=0))
FAMILY = func.coalesce(E.model_family, func.lower(E.model))  # the showback groups model families


def stream(session: Session, stmt):
    """Rows in batches: without yield_per the ORM session fetches a whole result before the first row."""
    return session.execute(stmt, execution_options={"yield_per": 1000})


def attribute(session: Session, name: str):
    """`attributes[name]` as text. A literal key, not a bound parameter: PostgreSQL must see the same
    expression in SELECT and GROUP BY."""
    if session.get_bind().dialect.name == "postgresql":
        return E.attributes.op("->>")(literal_column(f"'{name}'"))
    return func.json_extract(E.attributes, literal_column(f"'$.{name}'"))


def day_of(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'UTC'"), E.occurred_at))
    return func.date(E.occurred_at)


def in_period(period: Period, project: str | None) -> list:
    conditions = [E.occurred_at >= period.start, E.occurred_at < period.end, counted()]
    if project:
        conditions.append(E.story_key.startswith(f"{project}-", autoescape=True))
    return conditions


@dataclass(frozen=True)
class CubeRow:
    """Sums over the period's events sharing story, agent, model, provider, outcome, team and cost center."""

    story_key: str | None
    agent: str | None
    model: str
    provider: str | None
    outcome: str
    team: str | None
    cost_center: str | None
    totals: Totals
    output_tokens: int
    cache_write_tokens: int


def cube(session: Session, period: Period, project: str | None) -> list[CubeRow]:
    team, cost_center = attribute(session, "team"), attribute(session, "cost_center")
    dims = (E.story_key, E.agent, FAMILY, E.provider, E.outcome, team, cost_center)
    stmt = (select(*dims, func.count(), UNPRICED, func.sum(TOKENS), func.sum(E.cost_nano_usd),
                   func.sum(E.input_tokens), func.sum(E.cache_read_tokens), func.sum(E.output_tokens),
                   func.sum(E.cache_write_tokens))
            .where(*in_period(period, project)).group_by(*dims))
    rows = []
    for key, agent, model, provider, outcome, team_v, cc, n, unpriced, tokens, nano, inp, read, out, write in \
            stream(session, stmt):
        rows.append(CubeRow(key, agent, model, provider, outcome, _text(team_v), _text(cc),
                            Totals(n, int(unpriced), int(tokens), int(nano), int(inp), int(read)),
                            int(out), int(write)))
    return rows


def spend_by_story(session: Session, period: Period, project: str | None) -> dict[str | None, Totals]:
    """The period's spend per story (None: events naming no story): the trend's cheaper cousin of `cube`."""
    stmt = (select(E.story_key, func.count(), UNPRICED, func.sum(TOKENS), func.sum(E.cost_nano_usd),
                   func.sum(E.input_tokens), func.sum(E.cache_read_tokens))
            .where(*in_period(period, project)).group_by(E.story_key))
    return {key: Totals(n, int(u), int(t), int(c), int(i), int(r))
            for key, n, u, t, c, i, r in stream(session, stmt)}


def stories(session: Session, period: Period, keys: set[str], project: str | None) -> list[Story]:
    """The period's stories: the sprint's members (as Jira says) and every story that spent in it."""
    wanted: list[ColumnElement[bool]] = [Story.key.in_(sorted(keys))] if keys else []
    if period.sprint:
        wanted.append(Story.sprint == period.sprint)
    if not wanted:
        return []
    stmt = select(Story).where(or_(*wanted), Story.deleted.is_(False))
    if project:
        stmt = stmt.where(Story.project == project)
    return list(session.scalars(stmt.order_by(Story.key)))


@dataclass
class Overrun:
    """Where one over-budget story's tokens went, over its whole life."""

    key: str
    by_agent: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))
    by_model: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))
    errors: Totals = field(default_factory=Totals)
    runs: list[tuple[int, int, str]] = field(default_factory=list)  # heap of (nano, tokens, run_id)
    days: list[tuple[str, int, int]] = field(default_factory=list)  # (day, calls, input tokens)


def overruns(session: Session, keys: list[str], top: int = 5) -> dict[str, Overrun]:
    found = {key: Overrun(key) for key in keys}
    if not keys:
        return found
    where = E.story_key.in_(keys) & counted()
    day = day_of(session)
    # One pass for agent, model, errors and daily input per call: rows are bounded by those dimensions.
    days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    by_dims = (select(E.story_key, E.agent, FAMILY, E.outcome, day, func.count(), UNPRICED, func.sum(TOKENS),
                      func.sum(E.cost_nano_usd), func.sum(E.input_tokens))
               .where(where).group_by(E.story_key, E.agent, FAMILY, E.outcome, day))
    for key, agent, model, outcome, when, n, unpriced, tokens, nano, inp in stream(session, by_dims):
        totals = Totals(n, int(unpriced), int(tokens), int(nano))
        item = found[key]
        item.by_agent[agent or "(none)"] += totals
        item.by_model[model] += totals
        if outcome == "error":
            item.errors += totals
        calls = days[(key, _iso_day(when))]
        calls[0] += n
        calls[1] += int(inp)
    for (key, when), (n, inp) in sorted(days.items()):
        found[key].days.append((when, n, inp))
    # Runs stream past; only the `top` most expensive per story are kept.
    by_run = (select(E.story_key, E.run_id, func.sum(TOKENS), func.sum(E.cost_nano_usd))
              .where(where, E.run_id.is_not(None)).group_by(E.story_key, E.run_id))
    for key, run_id, tokens, nano in stream(session, by_run):
        heap = found[key].runs
        entry = (int(nano), int(tokens), run_id)
        if len(heap) < top:
            heapq.heappush(heap, entry)
        else:
            heapq.heappushpop(heap, entry)
    for item in found.values():
        item.runs.sort(reverse=True)
    return found


@dataclass(frozen=True)
class Run:
    run_id: str
    story_key: str | None
    agent: str | None
    events: int
    errors: int
    totals: Totals


def top_runs(session: Session, period: Period, project: str | None, limit: int = 10) -> list[Run]:
    nano = func.sum(E.cost_nano_usd)
    stmt = (select(E.run_id, func.max(E.story_key), func.max(E.agent), func.count(),
                   func.sum(case((E.outcome == "error", 1), else_=0)), UNPRICED, func.sum(TOKENS), nano)
            .where(*in_period(period, project), E.run_id.is_not(None)).group_by(E.run_id)
            .order_by(nano.desc(), func.sum(TOKENS).desc(), E.run_id).limit(limit))
    return [Run(run, key, agent, n, int(errors), Totals(n, int(u), int(t), int(c)))
            for run, key, agent, n, errors, u, t, c in stream(session, stmt)]


def _text(value) -> str | None:
    return None if value is None else str(value)


def _iso_day(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
