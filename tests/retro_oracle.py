"""What the ledger says: the retro's grouped figures summed straight from `usage_events` (the queries the retro
ran before it read rollups), over the same team days. The retro read from rollups must equal them exactly."""

from __future__ import annotations

import heapq
from collections import defaultdict

from sqlalchemy import case, func, literal_column, select

from bot.ledger.days import counted, team_day
from bot.ledger.tables import UsageEvent
from bot.reports.retro import queries
from bot.reports.retro.figures import Totals

E = UsageEvent
TOKENS = E.input_tokens + E.output_tokens
UNPRICED = func.sum(case((E.priced.is_(False), 1), else_=0))
FAMILY = func.coalesce(E.model_family, func.lower(E.model))
ERROR = E.outcome == "error"


def _attribute(session, name: str):
    if session.get_bind().dialect.name == "postgresql":
        return E.attributes.op("->>")(literal_column(f"'{name}'"))
    return func.json_extract(E.attributes, literal_column(f"'$.{name}'"))


def _in_window(window, project):
    # The window's moments are its team days' midnights: the same events as bucketing by team day.
    conditions = [E.occurred_at >= window.start, E.occurred_at < window.end, counted()]
    if project:
        conditions.append(E.story_key.startswith(f"{project}-", autoescape=True))
    return conditions


def cube(reader, window, project):
    session = reader.session
    dims = (E.story_key, E.agent, FAMILY, E.provider, _attribute(session, "team"),
            _attribute(session, "cost_center"))
    stmt = (select(*dims, func.count(), UNPRICED, func.sum(TOKENS), func.sum(E.cost_nano_usd),
                   func.sum(E.input_tokens), func.sum(E.cache_read_tokens), func.sum(E.output_tokens),
                   func.sum(E.cache_write_tokens), func.sum(case((ERROR, 1), else_=0)),
                   func.sum(case((ERROR & E.priced.is_(False), 1), else_=0)),
                   func.sum(case((ERROR, TOKENS), else_=0)), func.sum(case((ERROR, E.cost_nano_usd), else_=0)))
            .where(*_in_window(window, project)).group_by(*dims))
    rows = []
    for key, agent, model, provider, team, cc, n, u, t, c, i, r, out, write, en, eu, et, ec in session.execute(stmt):
        rows.append(queries.CubeRow(key or None, agent or None, model, provider or None, team or None, cc or None,
                                    Totals(n, int(u), int(t), int(c), int(i), int(r)),
                                    Totals(int(en), int(eu), int(et), int(ec)), int(out), int(write)))
    return rows


def spend_by_story(reader, window, project):
    stmt = (select(E.story_key, func.count(), UNPRICED, func.sum(TOKENS), func.sum(E.cost_nano_usd),
                   func.sum(E.input_tokens), func.sum(E.cache_read_tokens))
            .where(*_in_window(window, project)).group_by(E.story_key))
    return {key: Totals(n, int(u), int(t), int(c), int(i), int(r))
            for key, n, u, t, c, i, r in reader.session.execute(stmt)}


def overruns(reader, keys, top=5):
    session = reader.session
    found = {key: queries.Overrun(key) for key in keys}
    if not keys:
        return found
    where = E.story_key.in_(keys) & counted()
    for key, agent, model, outcome, n, unpriced, tokens, nano, inp, read in session.execute(
            select(E.story_key, E.agent, FAMILY, E.outcome, func.count(), UNPRICED, func.sum(TOKENS),
                   func.sum(E.cost_nano_usd), func.sum(E.input_tokens), func.sum(E.cache_read_tokens))
            .where(where).group_by(E.story_key, E.agent, FAMILY, E.outcome)):
        totals = Totals(n, int(unpriced), int(tokens), int(nano), int(inp), int(read))
        found[key].by_agent[agent or "(none)"] += totals
        found[key].by_model[model] += totals
        if outcome == "error":
            found[key].errors += Totals(n, int(unpriced), int(tokens), int(nano))
    # The team's day of each event, in Python: SQLite has no time zones.
    days: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for key, occurred, inp in session.execute(select(E.story_key, E.occurred_at, E.input_tokens).where(where)):
        calls = days[(key, team_day(occurred, reader.zone))]
        calls[0] += 1
        calls[1] += inp
    for (key, day), (n, inp) in sorted(days.items()):
        found[key].days.append((day.isoformat(), n, inp))
    for key, run_id, tokens, nano in session.execute(
            select(E.story_key, E.run_id, func.sum(TOKENS), func.sum(E.cost_nano_usd))
            .where(where, E.run_id.is_not(None)).group_by(E.story_key, E.run_id)):
        heap = found[key].runs
        entry = (int(nano), int(tokens), run_id)
        (heapq.heappush if len(heap) < top else heapq.heappushpop)(heap, entry)
    for item in found.values():
        item.runs.sort(reverse=True)
    return found


def top_runs(session, window, project, limit=10):
    nano = func.sum(E.cost_nano_usd)
    stmt = (select(E.run_id, func.max(E.story_key), func.max(E.agent), func.count(),
                   func.sum(case((ERROR, 1), else_=0)), UNPRICED, func.sum(TOKENS), nano)
            .where(*_in_window(window, project), E.run_id.is_not(None)).group_by(E.run_id)
            .order_by(nano.desc(), func.sum(TOKENS).desc(), E.run_id).limit(limit))
    return [queries.Run(run, key, agent, n, int(errors), Totals(n, int(u), int(t), int(c)))
            for run, key, agent, n, errors, u, t, c in session.execute(stmt)]


def use_ledger(monkeypatch) -> None:
    """Make the retro read the ledger instead of the rollups (for comparing the two)."""
    for name in ("cube", "spend_by_story", "overruns", "top_runs"):
        monkeypatch.setattr(queries, name, globals()[name])
