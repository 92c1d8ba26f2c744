"""The retro's reads, from rollups: its own (`retro_usage_days`), the story totals and the runs (`scrum_runs`).

Every sum is grouped by the database over rollup rows, whose number follows stories x days x agents x models,
never the number of events. The ledger itself is read only for rows that stay few however big it grows: the
voided events (taken out of the retro rollup's sums) and the events of the ten runs the report lists.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from bot.ledger.days import counted
from bot.ledger.tables import RunStat, Story, UsageEvent
from bot.reports.retro.figures import Totals
from bot.reports.retro.period import Period, Window
from bot.reports.retro.rollup import DIMS, SUMS, voided
from bot.reports.retro.tables import RetroDay

E = UsageEvent
TOKENS = E.input_tokens + E.output_tokens


def stream(session: Session, stmt):
    """Rows in batches: without yield_per the ORM session fetches a whole result before the first row."""
    return session.execute(stmt, execution_options={"yield_per": 1000})


class Reader:
    """Sums of the retro rollup grouped by some of its dimensions, with the voided events taken out."""

    def __init__(self, session: Session, zone: ZoneInfo) -> None:
        self.session = session
        self.zone = zone
        self._voided: dict | None = None

    def sums(self, by: tuple[str, ...], *, window: Window | None = None, keys: list[str] | None = None,
             project: str | None = None) -> dict[tuple, list[int]]:
        """SUMS per distinct value of the `by` columns (DIMS or "day"), over the rows the filters keep."""
        if keys is not None and not keys:
            return {}
        columns = [getattr(RetroDay, name) for name in by]
        conditions: list[ColumnElement[bool]] = []
        if window is not None:
            conditions.append(RetroDay.day.between(window.first, window.last))
        if keys is not None:
            conditions.append(RetroDay.story_key.in_(sorted(keys)))
        if project:
            conditions.append(RetroDay.story_key.startswith(f"{project}-", autoescape=True))
        stmt = (select(*columns, *(func.sum(getattr(RetroDay, name)) for name in SUMS))
                .where(*conditions).group_by(*columns))
        found = {tuple(row[:len(by)]): [int(value) for value in row[len(by):]]
                 for row in stream(self.session, stmt)}
        wanted = set(keys) if keys is not None else None
        for (day, dims), sums in self.voided().items():
            cell = dict(zip(DIMS, dims, strict=True), day=day)
            if ((window is not None and not window.first <= day <= window.last)
                    or (wanted is not None and cell["story_key"] not in wanted)
                    or (project and not cell["story_key"].startswith(f"{project}-"))):
                continue
            group = tuple(cell[name] for name in by)
            entry = found.get(group)
            if entry is None:  # not in the rollup: nothing to take out
                continue
            for index, value in enumerate(sums):
                entry[index] -= value
            if entry[0] == 0:  # every event of the group was voided: the ledger has no such group
                del found[group]
        return found

    def voided(self) -> dict:
        if self._voided is None:
            self._voided = voided(self.session, self.zone)
        return self._voided


def _totals(sums: list[int]) -> Totals:
    events, unpriced, inp, out, read, _write, nano = sums[:7]
    return Totals(events, unpriced, inp + out, nano, inp, read)


def _errors(sums: list[int]) -> Totals:
    """The part of the sums from calls that ended in `error`."""
    events, unpriced, tokens, nano = sums[7:]
    return Totals(events, unpriced, tokens, nano)


@dataclass(frozen=True)
class CubeRow:
    """Sums over the period's events sharing story, agent, model, provider, team and cost center."""

    story_key: str | None
    agent: str | None
    model: str
    provider: str | None
    team: str | None
    cost_center: str | None
    totals: Totals
    errors: Totals  # of the calls among them that ended in `error`
    output_tokens: int
    cache_write_tokens: int


def cube(reader: Reader, window: Window, project: str | None) -> list[CubeRow]:
    rows = []
    for (key, agent, model, provider, team, cost_center), sums in \
            reader.sums(DIMS, window=window, project=project).items():
        rows.append(CubeRow(key or None, agent or None, model, provider or None, team or None, cost_center or None,
                            _totals(sums), _errors(sums), sums[3], sums[5]))
    return rows


def spend_by_story(reader: Reader, window: Window, project: str | None) -> dict[str | None, Totals]:
    """The period's spend per story (None: events naming no story): the trend's cheaper cousin of `cube`."""
    return {key or None: _totals(sums)
            for (key,), sums in reader.sums(("story_key",), window=window, project=project).items()}


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
    days: list[tuple[str, int, int]] = field(default_factory=list)  # (team day, calls, input tokens)


def overruns(reader: Reader, keys: list[str], top: int = 5) -> dict[str, Overrun]:
    found = {key: Overrun(key) for key in keys}
    if not keys:
        return found
    # Grouped by the database, one breakdown at a time: what comes back is bounded by stories x agents, x models
    # and x days, not by their product.
    for (key, agent), sums in reader.sums(("story_key", "agent"), keys=keys).items():
        found[key].by_agent[agent or "(none)"] += _totals(sums)
        found[key].errors += _errors(sums)
    for (key, model), sums in reader.sums(("story_key", "model"), keys=keys).items():
        found[key].by_model[model] += _totals(sums)
    for (key, day), sums in sorted(reader.sums(("story_key", "day"), keys=keys).items()):
        found[key].days.append((day.isoformat(), sums[0], sums[2]))  # calls and input tokens per team day
    # A run counts for the story it last named (scrum_runs keeps that, with the run's totals); only the
    # `top` most expensive per story are kept.
    by_run = select(RunStat.story_key, RunStat.run_id, RunStat.tokens, RunStat.nano_usd).where(
        RunStat.story_key.in_(keys))
    for key, run_id, tokens, nano in stream(reader.session, by_run):
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


def top_runs(session: Session, window: Window, project: str | None, limit: int = 10) -> list[Run]:
    """The period's most expensive runs. Ranked from scrum_runs: a run that lies wholly inside the period spent
    its totals there; only runs crossing one of its edges are summed from their events inside it. The ledger
    then gives the listed runs' exact figures (events, errors, unpriced, story and agent) inside the period."""
    R = RunStat
    overlapping = [R.last_event_at >= window.start, R.first_event_at < window.end]
    if project:
        overlapping.append(R.story_key.startswith(f"{project}-", autoescape=True))  # the story it last named
    inside = (select(R.run_id, R.nano_usd, R.tokens)
              .where(*overlapping, R.first_event_at >= window.start, R.last_event_at < window.end)
              .order_by(R.nano_usd.desc(), R.tokens.desc(), R.run_id).limit(limit))
    ranked = [(-int(nano), -int(tokens), run_id) for run_id, nano, tokens in session.execute(inside)]
    crossing = list(session.scalars(select(R.run_id).where(
        *overlapping, or_(R.first_event_at < window.start, R.last_event_at >= window.end))))
    if crossing:
        ranked += [(-int(nano), -int(tokens), run_id) for run_id, nano, tokens in session.execute(
            select(E.run_id, func.sum(E.cost_nano_usd), func.sum(TOKENS))
            .where(E.run_id.in_(crossing), *_in_window(window, project)).group_by(E.run_id)) if run_id]
    chosen = [run_id for *_, run_id in sorted(ranked)[:limit]]
    if not chosen:
        return []
    nano = func.sum(E.cost_nano_usd)
    stmt = (select(E.run_id, func.max(E.story_key), func.max(E.agent), func.count(),
                   func.sum(case((E.outcome == "error", 1), else_=0)),
                   func.sum(case((E.priced.is_(False), 1), else_=0)), func.sum(TOKENS), nano)
            .where(E.run_id.in_(chosen), *_in_window(window, project)).group_by(E.run_id)
            .order_by(nano.desc(), func.sum(TOKENS).desc(), E.run_id))
    return [Run(run, key, agent, n, int(errors), Totals(n, int(u), int(t), int(c)))
            for run, key, agent, n, errors, u, t, c in session.execute(stmt)]


def _in_window(window: Window, project: str | None) -> list:
    conditions = [E.occurred_at >= window.start, E.occurred_at < window.end, counted()]
    if project:
        conditions.append(E.story_key.startswith(f"{project}-", autoescape=True))
    return conditions
