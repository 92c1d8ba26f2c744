"""The database side of preflight: its reads (rollups and small indexes, never a ledger scan) in one statement,
and the story labels the policy's per-label overrides look at."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, literal, or_, select, true
from sqlalchemy.orm import Session

from bot.guardrails.shapes import Figures, PreflightIn, RunFigures, Spent, StoryFigures
from bot.guardrails.tables import Breaker, Reservation, StoryLabels
from bot.ledger.days import team_day
from bot.ledger.tables import AgentDay, RunStat, Story
from bot.ledger.totals import judge_story
from bot.upsert import dialect_insert


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def periods(now: datetime, timezone: str) -> tuple[str, str]:
    """The team's local day and month of `now`: ("2026-12-01", "2026-12")."""
    day = team_day(now, zone(timezone)).isoformat()
    return day, day[:7]


def story_status(story, settings) -> str:
    """The one status function of the ledger (it knows overrides and unpriced spend where the ledger does)."""
    return judge_story(story, settings.warn_threshold).status.value


def read_figures(session: Session, request: PreflightIn, settings, now: datetime) -> tuple[Figures, tuple[str, ...]]:
    """Figures for one preflight, and the story's labels (for the policy's per-label overrides)."""
    day, month = periods(now, settings.timezone)
    first = date.fromisoformat(f"{month}-01")
    connection = session.connection()
    params = {"story": request.story, "agent": request.agent, "run": request.run_id, "now": now,
              "agent_or_blank": request.agent or "", "day": date.fromisoformat(day), "month_first": first,
              "month_next": (first + timedelta(days=32)).replace(day=1)}
    row = connection.execute(figures_statement(), params).one()
    # PostgreSQL's sum() of a BIGINT is NUMERIC (a Decimal here): every figure becomes an int.
    n = {name: int(value or 0) for name, value in row._mapping.items()
         if name.startswith(("r_", "day_", "org_", "month_"))}
    breakers = _breakers(connection, params) if row.breakers else []
    story = None
    if request.story is not None and row.key is not None:
        spent = Spent(row.spent_tokens, row.spent_nano_usd, row.events, n["r_story_tokens"], n["r_story_nano"])
        story = StoryFigures(row.key, story_status(row, settings), row.budget_tokens, row.budget_nano_usd, spent)
    run = None
    if request.run_id is not None:
        run = RunFigures(request.run_id, Spent(row.run_tokens or 0, row.run_nano or 0, row.run_events or 0,
                                               n["r_run_tokens"], n["r_run_nano"]),
                         row.run_tool_calls or 0, row.errors_since_ok or 0, row.first_event_at)
    return Figures(
        now=now, day=day, month=month, breakers=breakers, story=story, run=run,
        agent_day=Spent(n["day_tokens"], n["day_nano"], n["day_calls"], n["r_agent_tokens"], n["r_agent_nano"]),
        org_day=Spent(n["org_tokens"], n["org_nano"], n["org_calls"], n["r_all_tokens"], n["r_all_nano"]),
        month_spent=Spent(0, n["month_nano"], 0, n["r_all_tokens"], n["r_all_nano"]),
    ), tuple(row.labels or ())


# Everything in ONE statement built once, with bind parameters: per-call statement building and one round trip
# per figure cost more than the reads themselves. Primary-key joins and scalar subqueries over small tables only.
# Core columns (Table.c), not ORM attributes, so execution skips the ORM layer. A None parameter matches nothing.
_b, _s, _r, _rs, _a, _l = (t.__table__.c for t in (Breaker, Story, Reservation, RunStat, AgentDay, StoryLabels))
_ACTIVE_BREAKER = and_(_b.cleared_at.is_(None), or_(
    _b.scope == "all", and_(_b.scope == "agent", _b.target == bindparam("agent")),
    and_(_b.scope == "story", _b.target == bindparam("story")), and_(_b.scope == "run", _b.target == bindparam("run"))))
BREAKERS = select(_b.scope, _b.target, _b.reason, _b.tripped_by).where(_ACTIVE_BREAKER).order_by(_b.id)


def _total(column, *where, label: str):
    return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery().label(label)


def _spend_columns() -> list:
    """The day's and month's spend from the ledger's (team day, agent) rollup: a month is at most 31 days of it."""
    day = _a.day == bindparam("day", type_=_a.day.type)
    mine = _a.agent == bindparam("agent_or_blank")
    month = and_(_a.day >= bindparam("month_first", type_=_a.day.type),
                 _a.day < bindparam("month_next", type_=_a.day.type))
    return [_total(_a.tokens, day, mine, label="day_tokens"), _total(_a.nano_usd, day, mine, label="day_nano"),
            _total(_a.events, day, mine, label="day_calls"), _total(_a.tokens, day, label="org_tokens"),
            _total(_a.nano_usd, day, label="org_nano"), _total(_a.events, day, label="org_calls"),
            _total(_a.nano_usd, month, label="month_nano")]


def _reserved_columns() -> list:
    live = _r.expires_at > bindparam("now", type_=_r.expires_at.type)
    scopes = {"story": _r.story_key == bindparam("story"), "run": _r.run_id == bindparam("run"),
              "agent": func.coalesce(_r.agent, "") == bindparam("agent_or_blank"), "all": true()}
    return [_total(column, live, condition, label=f"r_{name}_{short}")
            for name, condition in scopes.items() for column, short in ((_r.tokens, "tokens"), (_r.nano_usd, "nano"))]


@cache
def figures_statement():
    """Built on first use, not at import: start-up (every CLI command) does not pay for it."""
    one = select(literal(1).label("one")).subquery()
    return (select(select(func.count()).where(_ACTIVE_BREAKER).scalar_subquery().label("breakers"),
                   _s.key, _s.budget_tokens, _s.budget_nano_usd, _s.spent_tokens, _s.spent_nano_usd, _s.events,
                   _s.unpriced_events, _s.overrun_approved, _l.labels,
                   _rs.tokens.label("run_tokens"), _rs.nano_usd.label("run_nano"), _rs.events.label("run_events"),
                   _rs.tool_calls.label("run_tool_calls"), _rs.errors_since_ok, _rs.first_event_at,
                   *_spend_columns(), *_reserved_columns())
            .select_from(one.outerjoin(Story.__table__, _s.key == bindparam("story"))
                         .outerjoin(StoryLabels.__table__, _l.story_key == bindparam("story"))
                         .outerjoin(RunStat.__table__, _rs.run_id == bindparam("run"))))


def _breakers(connection, params: dict) -> list[tuple[str, str, str | None]]:
    return [("everything" if scope == "all" else f"{scope} {target}", reason, by)
            for scope, target, reason, by in connection.execute(BREAKERS, params)]


def set_story_labels(session: Session, key: str, labels: list[str] | None) -> list[str]:
    """Replace the labels of story `key` (as Jira's `fields.labels` lists them); returns them sorted."""
    cleaned = sorted({str(label).strip() for label in labels or [] if str(label).strip()})
    stmt = dialect_insert(session, StoryLabels.__table__).values(story_key=key, labels=cleaned)
    session.execute(stmt.on_conflict_do_update(index_elements=["story_key"], set_={"labels": cleaned}))
    return cleaned
