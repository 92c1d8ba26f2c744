"""Anomaly alerts: judge the rules (cheaply at ingest, fully in the clock's scan), record each once, tell people."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import utcnow
from bot.ledger.budgets import usd_to_nano
from bot.ledger.days import team_day
from bot.ledger.sprints import is_active, last_day_of
from bot.ledger.tables import AgentDay, RunStat, Sprint, Story, StoryDay, UsageDay
from bot.outbox import enqueue
from bot.reports import blocks as bk
from bot.reports.format import day_label
from bot.reports.scrum import anomalies as rules
from bot.reports.scrum.tables import Alert
from bot.web.dashboard_keys import signed_story_url

TITLES = {"spend_spike": "Spend spike", "run_cost": "Expensive run", "runaway_run": "Runaway run",
          "budget_share": "Over its share of the daily budget", "cost_jump": "Cost per call jumped"}
MAX_ALERTS_IN_MESSAGE = 40


def check_ingest(session: Session, runs: list, agent_totals: list[tuple[date, str, int]],
                 settings: Settings) -> list[Alert]:
    """The rules judged on ingest, on the totals the rollup upserts just returned (no query at all): run cost and
    runaway runs on the batch's runs, and each (day, agent)'s share of BUDGETBOT_DAILY_BUDGET_USD."""
    findings = _judge_runs(settings, runs)
    # Only a configured daily budget is judged here: one derived from the sprint costs a query per batch, so
    # the clock's scan (every few minutes) judges that one.
    if _on(settings, "budget_share") and settings.daily_budget_usd is not None:
        budget = usd_to_nano(settings.daily_budget_usd)
        findings += [rules.budget_share(f"agent:{agent}", int(nano), budget, day, pct=settings.anomaly_share_pct)
                     for day, agent, nano in agent_totals if agent]
    return raise_alerts(session, settings, findings)


def scan(session: Session, settings: Settings, now: datetime | None = None) -> list[Alert]:
    """Every rule over yesterday and today (the team's days, as the rollups), from the rollups; what was already
    alerted stays quiet."""
    now = now or utcnow()
    today = team_day(now, ZoneInfo(getattr(settings, "timezone", "UTC")))
    days = [today - timedelta(days=1), today]
    first = today - timedelta(days=settings.anomaly_rolling_days + 1)
    org: dict[date, int] = defaultdict(int)
    agents: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for day, agent, nano in session.execute(
            select(AgentDay.day, AgentDay.agent, AgentDay.nano_usd).where(AgentDay.day >= first)):
        org[day] += int(nano)
        if agent:
            agents[agent][day] += int(nano)
    findings = []
    for day in days:
        if _on(settings, "spend_spike"):
            findings += [_spike(settings, "org", org, day)]
            findings += [_spike(settings, f"agent:{name}", series, day) for name, series in sorted(agents.items())]
        if _on(settings, "budget_share"):
            budget = daily_budget_nano(session, settings, day)
            findings += [rules.budget_share(f"agent:{name}", series.get(day, 0), budget, day,
                                            pct=settings.anomaly_share_pct) for name, series in sorted(agents.items())]
            findings += [rules.budget_share(f"person:{person}", int(nano), budget, day, pct=settings.anomaly_share_pct)
                         for person, nano in session.execute(
                             select(Story.assignee, func.sum(StoryDay.nano_usd))
                             .join(Story, Story.key == StoryDay.story_key)
                             .where(StoryDay.day == day, Story.assignee.is_not(None)).group_by(Story.assignee))]
        if _on(settings, "cost_jump"):
            findings += _cost_jumps(session, settings, day)
    findings += _run_findings(session, settings, RunStat.last_event_at >= now - timedelta(days=2))
    return raise_alerts(session, settings, findings, now)


def _spike(settings: Settings, subject: str, series: dict[date, int], day: date):
    return rules.spend_spike(subject, series, day, factor=settings.anomaly_spike_factor,
                             rolling_pct=settings.anomaly_rolling_pct, rolling_days=settings.anomaly_rolling_days,
                             min_nano=usd_to_nano(settings.anomaly_min_daily_usd))


def _run_findings(session: Session, settings: Settings, where) -> list:
    tripped = or_(RunStat.nano_usd > usd_to_nano(settings.anomaly_run_usd),
                  RunStat.max_error_streak >= settings.anomaly_error_streak,
                  RunStat.tool_calls > settings.anomaly_run_tool_calls)
    return _judge_runs(settings, session.scalars(select(RunStat).where(where, tripped).order_by(RunStat.run_id)))


def _judge_runs(settings: Settings, runs) -> list:
    cost, runaway = _on(settings, "run_cost"), _on(settings, "runaway_run")
    max_nano = usd_to_nano(settings.anomaly_run_usd)
    found = []
    for run in runs:
        facts = rules.RunFacts(run.run_id, run.story_key, run.agent, run.model, run.nano_usd, run.events,
                               run.tool_calls, run.errors, run.max_error_streak, run.last_event_at)
        if cost:
            found.append(rules.run_cost(facts, max_nano=max_nano))
        if runaway:
            found.append(rules.runaway_run(facts, error_streak=settings.anomaly_error_streak,
                                           max_tool_calls=settings.anomaly_run_tool_calls))
    return found


def _cost_jumps(session: Session, settings: Settings, day: date) -> list:
    usage: dict[str, dict[date, dict[str, tuple[int, int]]]] = defaultdict(lambda: defaultdict(dict))
    for row_day, agent, model, nano, calls in session.execute(
            select(UsageDay.day, UsageDay.agent, UsageDay.model, func.sum(UsageDay.nano_usd), func.sum(UsageDay.events))
            .where(UsageDay.day.between(day - timedelta(days=7), day), UsageDay.agent != "")
            .group_by(UsageDay.day, UsageDay.agent, UsageDay.model)):
        usage[agent][row_day][model] = (int(nano), int(calls))
    found = []
    for agent, by_day in sorted(usage.items()):
        before: dict[str, tuple[int, int]] = {}
        for row_day, models in by_day.items():
            if row_day < day:
                for model, (nano, calls) in models.items():
                    n, c = before.get(model, (0, 0))
                    before[model] = (n + nano, c + calls)
        found.append(rules.cost_jump(agent, by_day.get(day, {}), before, day,
                                     factor=settings.anomaly_cost_jump_factor,
                                     min_events=settings.anomaly_cost_jump_min_events))
    return found


def daily_budget_nano(session: Session, settings: Settings, day: date) -> int | None:
    """BUDGETBOT_DAILY_BUDGET_USD, or else the dollar budgets of the active sprint's stories per sprint day."""
    if settings.daily_budget_usd is not None:
        return usd_to_nano(settings.daily_budget_usd)
    total, days = 0, 0
    for start, end, budget in session.execute(
            select(Sprint.start_at, Sprint.end_at, func.sum(Story.budget_nano_usd))
            .join(Story, (Story.sprint == Sprint.name) & Story.deleted.is_(False), isouter=True)
            .where(is_active(datetime.combine(day, time(12), UTC)), Sprint.start_at.is_not(None),
                   Sprint.end_at.is_not(None))
            .group_by(Sprint.id, Sprint.start_at, Sprint.end_at)):
        total += int(budget or 0)
        if start is None or end is None:  # the query already leaves undated sprints out; this narrows the type
            continue
        days = max(days, (last_day_of(end) - start.date()).days + 1)
    return total // days if total and days else None


def raise_alerts(session: Session, settings: Settings, findings: list, now: datetime | None = None) -> list[Alert]:
    """Record the findings not alerted yet (one per rule, subject and day) and tell Slack and Jira about them."""
    now = now or utcnow()
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    new = []
    # An event older than a day (a back-fill, a late batch) is history, not news: no alert today.
    since = (now - timedelta(days=1)).date()
    for finding in sorted((f for f in findings if f and f.day >= since), key=lambda f: (f.rule, f.subject, f.day)):
        stmt = module.insert(Alert).values(rule=finding.rule, subject=finding.subject[:300], day=finding.day,
                                           story_key=finding.story_key, message=finding.message,
                                           details=finding.details, created_at=now)
        alert_id = session.scalar(stmt.on_conflict_do_nothing(index_elements=["rule", "subject", "day"])
                                  .returning(Alert.id))
        if alert_id is not None:
            new.append(session.get_one(Alert, alert_id))  # just inserted: it exists
    if new:
        notify(session, settings, new)
    return new


def notify(session: Session, settings: Settings, alerts: list[Alert]) -> None:
    """One Slack message per batch of new alerts; a note on each story concerned (edited in place)."""
    lines = []
    for alert in alerts[:MAX_ALERTS_IN_MESSAGE]:
        link = f" · <{signed_story_url(settings, alert.story_key)}|{alert.story_key}>" if alert.story_key else ""
        lines.append(bk.section(f"*{TITLES.get(alert.rule, alert.rule)}* — {bk.escape(alert.message)}{link}"))
    if len(alerts) > MAX_ALERTS_IN_MESSAGE:
        lines.append(bk.section(f"…and {len(alerts) - MAX_ALERTS_IN_MESSAGE} more: `budgetbot alerts --since 1d`"))
    count = f"{len(alerts)} anomal{'y' if len(alerts) == 1 else 'ies'}"
    blocks = [bk.header(f":rotating_light: budgetbot: {count}"), *lines,
              bk.context("One alert per rule, subject and day · list them with `budgetbot alerts --since 1d`")]
    key = f"alerts:{alerts[0].id}"
    enqueue(session, "slack.message", {"channel": None, "text": f"budgetbot: {count}: {bk.escape(alerts[0].message)}",
                                       "blocks": blocks, "update_key": key, "image": None},
            coalesce_key=f"slack:{key}")
    for story_key in sorted({a.story_key for a in alerts if a.story_key}):
        enqueue(session, "jira.comment", {"key": story_key, "marker": "anomaly",
                                          "doc": story_note(session, story_key, signed_story_url(settings, story_key))},
                coalesce_key=f"jira.comment:{story_key}:anomaly")


def story_note(session: Session, story_key: str, story_url: str) -> list[dict]:
    """The anomaly note on a story: its latest alerts, so editing the one comment in place loses nothing."""
    recent = session.scalars(select(Alert).where(Alert.story_key == story_key)
                             .order_by(Alert.id.desc()).limit(10)).all()
    return [{"type": "heading", "text": "budgetbot: anomalies on this story"},
            {"type": "bullets", "items": [f"{day_label(a.day)} · {TITLES.get(a.rule, a.rule)}: {a.message}"
                                          for a in recent]},
            {"type": "link", "text": f"{story_key} in budgetbot", "url": story_url},
            {"type": "paragraph", "text": "budgetbot keeps this note up to date (edited in place); the alerts "
                                          "also go to Slack."}]


def _on(settings: Settings, rule: str) -> bool:
    return rule not in settings.anomaly_rules_off


