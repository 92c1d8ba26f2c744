"""The database reads of preflight: rollups and small indexes only (never a ledger scan), five queries."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.guardrails.shapes import Figures, PreflightIn, RunFigures, Spent, StoryFigures
from bot.guardrails.tables import Breaker, PeriodSpend, Reservation, StoryLabels
from bot.ledger.ingest import judge_story
from bot.ledger.tables import RunStat, Story


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def periods(now: datetime, timezone: str) -> tuple[str, str]:
    """The team's local day and month of `now`: ("2026-12-01", "2026-12")."""
    day = now.astimezone(zone(timezone)).date().isoformat()
    return day, day[:7]


def story_status(story, settings) -> str:
    """The one status function of the ledger (it knows overrides and unpriced spend where the ledger does)."""
    return judge_story(story, settings.warn_threshold).status.value


def read_figures(session: Session, request: PreflightIn, settings, now: datetime) -> tuple[Figures, tuple[str, ...]]:
    """Figures for one preflight, and the story's labels (for the policy's per-label overrides)."""
    day, month = periods(now, settings.timezone)
    reserved = _reservations(session, request, now)
    story, labels = _story(session, request.story, settings, reserved["story"])
    spend = _period_spend(session, day, month, request.agent or "")
    return Figures(
        now=now, day=day, month=month, breakers=_breakers(session, request), story=story,
        run=_run(session, request.run_id, reserved["run"]),
        agent_day=_with(spend.get((day, True), Spent()), reserved["agent"]),
        org_day=_with(_add(spend.get((day, True)), spend.get((day, False))), reserved["all"]),
        month_spent=_with(_add(spend.get((month, True)), spend.get((month, False))), reserved["all"]),
    ), labels


def _with(spent: Spent, reserved: tuple[int, int]) -> Spent:
    return Spent(spent.tokens, spent.nano_usd, spent.calls, *reserved)


def _add(a: Spent | None, b: Spent | None) -> Spent:
    a, b = a or Spent(), b or Spent()
    return Spent(a.tokens + b.tokens, a.nano_usd + b.nano_usd, a.calls + b.calls)


def _breakers(session: Session, request: PreflightIn) -> list[tuple[str, str, str | None]]:
    scopes = [Breaker.scope == "all"]
    for scope, value in (("agent", request.agent), ("story", request.story), ("run", request.run_id)):
        if value:
            scopes.append((Breaker.scope == scope) & (Breaker.target == value))
    rows = session.execute(select(Breaker.scope, Breaker.target, Breaker.reason, Breaker.tripped_by)
                           .where(Breaker.cleared_at.is_(None), or_(*scopes)).order_by(Breaker.id))
    return [("everything" if scope == "all" else f"{scope} {target}", reason, by)
            for scope, target, reason, by in rows]


def _story(session: Session, key: str | None, settings, reserved: tuple[int, int]
           ) -> tuple[StoryFigures | None, tuple[str, ...]]:
    if key is None:
        return None, ()
    row = session.execute(select(Story, StoryLabels.labels).outerjoin(StoryLabels, StoryLabels.story_key == Story.key)
                          .where(Story.key == key)).first()
    if row is None:  # no budget, no spend yet: only the labels may be known
        labels = session.scalar(select(StoryLabels.labels).where(StoryLabels.story_key == key))
        return None, tuple(labels or ())
    story, labels = row
    spent = Spent(story.spent_tokens, story.spent_nano_usd, story.events, *reserved)
    return (StoryFigures(story.key, story_status(story, settings), story.budget_tokens, story.budget_nano_usd, spent),
            tuple(labels or ()))


def _run(session: Session, run_id: str | None, reserved: tuple[int, int]) -> RunFigures | None:
    if run_id is None:
        return None
    row = session.execute(select(RunStat.tokens, RunStat.nano_usd, RunStat.events, RunStat.tool_calls,
                                 RunStat.errors_since_ok, RunStat.first_event_at)
                          .where(RunStat.run_id == run_id)).first()
    if row is None:
        return RunFigures(run_id, Spent(0, 0, 0, *reserved))
    tokens, nano, events, tools, errors, first = row
    return RunFigures(run_id, Spent(tokens, nano, events, *reserved), tools, errors, first)


def _period_spend(session: Session, day: str, month: str, agent: str) -> dict[tuple[str, bool], Spent]:
    """(period, is this agent) -> spend: the agent's day, the others' day, and the month, in one query."""
    mine = PeriodSpend.agent == agent
    rows = session.execute(select(PeriodSpend.period, mine, func.sum(PeriodSpend.tokens),
                                  func.sum(PeriodSpend.nano_usd), func.sum(PeriodSpend.calls))
                           .where(PeriodSpend.period.in_([day, month])).group_by(PeriodSpend.period, mine))
    return {(period, bool(is_mine)): Spent(int(t), int(n), int(c)) for period, is_mine, t, n, c in rows}


def _reservations(session: Session, request: PreflightIn, now: datetime) -> dict[str, tuple[int, int]]:
    """Headroom other calls hold (unexpired, unsettled), in the scopes this call is judged in: one query."""

    def part(condition):
        return (func.coalesce(func.sum(case((condition, Reservation.tokens), else_=0)), 0),
                func.coalesce(func.sum(case((condition, Reservation.nano_usd), else_=0)), 0))

    scopes = {"story": Reservation.story_key == literal(request.story or ""),
              "run": Reservation.run_id == literal(request.run_id or ""),
              "agent": func.coalesce(Reservation.agent, "") == literal(request.agent or ""),
              "all": literal(True)}
    columns = [column for condition in scopes.values() for column in part(condition)]
    row = session.execute(select(*columns).where(Reservation.expires_at > now)).one()
    values = [int(v or 0) for v in row]
    return {name: (values[2 * i], values[2 * i + 1]) for i, name in enumerate(scopes)}
