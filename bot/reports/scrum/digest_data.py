"""What the digest and burn-down comments need, read from the daily rollups (never from the usage events)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.guardrails.blocks import digest_line as blocked_calls_line
from bot.ledger.days import team_day
from bot.ledger.ingest import judge_story
from bot.ledger.sprints import active_sprints
from bot.ledger.tables import AgentDay, Story, StoryDay, UsageDay
from bot.reports.scrum.burndown import SprintWindow, StoryBurn
from bot.reports.scrum.tables import Alert
from bot.web.dashboard_keys import signed_story_url

TOP = 5


@dataclass
class SprintFacts:
    window: SprintWindow
    stories: list[StoryBurn] = field(default_factory=list)


@dataclass
class DigestData:
    now: datetime
    tz: ZoneInfo
    today: date  # in the team's zone
    window: tuple[date, date]  # the days this digest reports on ("yesterday", or Fri-Sun on a Monday)
    public_url: str
    schedule: str  # e.g. "at 09:00 Europe/Berlin, mon-fri"
    story_url: Callable[[str], str]  # the signed link that opens one story without an account
    sprints: list[SprintFacts] = field(default_factory=list)
    top_stories: list[tuple[str, int, int]] = field(default_factory=list)  # (name, nano, tokens) in the window
    top_agents: list[tuple[str, int, int]] = field(default_factory=list)
    top_models: list[tuple[str, int, int]] = field(default_factory=list)
    window_nano: int = 0
    window_tokens: int = 0
    window_unpriced: int = 0
    alerts: list[Alert] = field(default_factory=list)
    blocked: str | None = None  # "3 calls blocked yesterday (…)" from the guardrails, None when nothing was


def digest_weekdays(spec: str) -> set[int]:
    """Weekday numbers (Mon=0) of an APScheduler day_of_week spec such as `mon-fri`."""
    trigger = CronTrigger(day_of_week=spec, hour=0, minute=0, timezone=UTC)
    monday = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    fire, found = trigger.get_next_fire_time(None, monday), set()
    while fire is not None and fire < monday + timedelta(days=7):
        found.add(fire.weekday())
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return found


def report_window(today: date, spec: str) -> tuple[date, date]:
    """The days since the previous digest, up to yesterday: Monday's digest covers Friday to Sunday."""
    weekdays = digest_weekdays(spec) or set(range(7))
    previous = today - timedelta(days=1)
    while previous.weekday() not in weekdays and previous > today - timedelta(days=7):
        previous -= timedelta(days=1)
    # The previous digest reported on the day before it; this one starts where that one stopped.
    return min(previous, today - timedelta(days=1)), today - timedelta(days=1)


def load(session: Session, settings: Settings, now: datetime) -> DigestData:
    tz = ZoneInfo(settings.timezone)
    today = team_day(now, tz)
    window = report_window(today, settings.digest_days)
    data = DigestData(now=now, tz=tz, today=today, window=window, public_url=settings.public_url.rstrip("/"),
                      story_url=partial(signed_story_url, settings),
                      schedule=f"at {settings.digest_time} {settings.timezone}, {settings.digest_days}")
    for sprint in active_sprints(session, now):  # Jira's active ones, and those entered by dates
        window_ = SprintWindow(sprint.name, sprint.start_at, sprint.end_at, tz)
        data.sprints.append(SprintFacts(window_, _stories(session, settings, sprint.name, window_, window)))
    first, last = window
    data.top_stories = _top(session, StoryDay.story_key, StoryDay, first, last)
    data.top_agents = _top(session, AgentDay.agent, AgentDay, first, last)
    data.top_models = _top(session, UsageDay.model, UsageDay, first, last)
    data.window_nano, data.window_tokens = (int(v or 0) for v in session.execute(
        select(func.sum(AgentDay.nano_usd), func.sum(AgentDay.tokens))
        .where(AgentDay.day.between(first, last))).one())
    data.window_unpriced = int(session.scalar(select(func.sum(StoryDay.unpriced_events))
                                              .where(StoryDay.day.between(first, last))) or 0)
    since = datetime.combine(first, time(0), tz).astimezone(UTC)
    data.alerts = list(session.scalars(select(Alert).where(Alert.created_at >= since).order_by(Alert.id)))
    data.blocked = blocked_calls_line(session, first, last, tz, today)
    return data


def _stories(session: Session, settings: Settings, sprint_name: str, sprint: SprintWindow,
             window: tuple[date, date]) -> list[StoryBurn]:
    rows = session.scalars(select(Story).where(
        Story.sprint == sprint_name, Story.deleted.is_(False),
        or_(Story.budget_tokens.is_not(None), Story.budget_nano_usd.is_not(None), Story.events > 0))
        .order_by(Story.key)).all()
    if not rows:
        return []
    keys = [story.key for story in rows]
    first_day = min([window[0], *sprint.days()[:1]])
    daily: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    for key, day, toks, nano in session.execute(
            select(StoryDay.story_key, StoryDay.day, StoryDay.tokens, StoryDay.nano_usd)
            .where(StoryDay.story_key.in_(keys), StoryDay.day >= first_day)):
        daily[key][day] = (int(toks), int(nano))
    agents = _top_per_story(session, UsageDay.agent, keys)
    models = _top_per_story(session, UsageDay.model, keys)
    sprint_days = set(sprint.days())
    burns = []
    for story in rows:
        days = daily.get(story.key, {})
        w_tokens = sum(t for d, (t, _) in days.items() if window[0] <= d <= window[1])
        w_nano = sum(n for d, (_, n) in days.items() if window[0] <= d <= window[1])
        status = judge_story(story, settings.warn_threshold).status
        burns.append(StoryBurn(
            key=story.key, summary=story.summary, assignee=story.assignee, status=status,
            budget_tokens=story.budget_tokens, budget_nano=story.budget_nano_usd,
            spent_tokens=story.spent_tokens, spent_nano=story.spent_nano_usd,
            daily={d: v for d, v in days.items() if d in sprint_days}, window_tokens=w_tokens, window_nano=w_nano,
            status_before_window=judge_story(story, settings.warn_threshold,
                                             minus={"tokens": w_tokens, "nano": w_nano, "unpriced": 0}).status,
            top_agents=agents.get(story.key, []), top_models=models.get(story.key, []),
            unpriced_events=story.unpriced_events, approved=bool(story.overrun_approved)))
    return burns


def _top_per_story(session: Session, column, keys: list[str]) -> dict[str, list[tuple[str, int, int]]]:
    found: dict[str, list] = defaultdict(list)
    for key, name, nano, toks in session.execute(
            select(UsageDay.story_key, column, func.sum(UsageDay.nano_usd), func.sum(UsageDay.tokens))
            .where(UsageDay.story_key.in_(keys)).group_by(UsageDay.story_key, column)):
        found[key].append((name, int(nano), int(toks)))
    return {key: sorted(items, key=lambda i: (-i[1], -i[2], i[0]))[:TOP] for key, items in found.items()}


def _top(session: Session, column, table, first: date, last: date) -> list[tuple[str, int, int]]:
    nano = func.sum(table.nano_usd)
    rows = session.execute(select(column, nano, func.sum(table.tokens)).where(table.day.between(first, last))
                           .group_by(column).order_by(nano.desc(), column).limit(TOP))
    return [(name, int(n), int(t)) for name, n, t in rows if n or t]
