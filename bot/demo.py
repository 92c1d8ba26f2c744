"""`budgetbot demo`: a realistic sprint seeded through the real ingest, so every page and report has a story to tell."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ledger import sprints, story_fields
from bot.ledger.budgets import usd_to_nano
from bot.ledger.ingest import ingest, set_budget
from bot.ledger.pricing import Pricer, TokenCounts
from bot.ledger.tables import Story, UsageEvent
from bot.ledger.usage_shapes import UsageEventIn

SPRINT_DAYS = 14
# agent -> (model, provider, share of input read from the cache)
AGENTS = {
    "claude-code": ("claude-sonnet-4-5", "anthropic", 0.7),
    "claude-code-opus": ("claude-opus-4-1", "anthropic", 0.6),
    "codex": ("gpt-5", "openai", 0.5),
    "gemini-cli": ("gemini-2.5-pro", "google", 0.4),
    "aider-local": ("llama-3.3-70b-local", "self-hosted", 0.0),  # on the team's own GPUs: no price
}


@dataclass(frozen=True)
class DemoStory:
    key: str
    summary: str
    points: float
    assignee: str
    agent: str
    tokens: int | None  # budget
    usd: str | None  # budget
    burn: float  # share of the budget spent so far
    resolved: bool = False


CURRENT = [
    DemoStory("PAY-101", "Card form validates expiry dates", 2, "ana", "claude-code", 2_000_000, "12", 0.55, True),
    DemoStory("PAY-102", "Refund webhook retries with backoff", 3, "ben", "codex", None, "15", 0.62, True),
    DemoStory("PAY-103", "3-D Secure challenge in the checkout", 8, "chloe", "claude-code-opus", None, "40", 1.48),
    DemoStory("PAY-104", "Currency rounding in invoices", 3, "dev", "claude-code", 3_000_000, None, 0.86),
    DemoStory("PAY-105", "Saved cards page", 5, "ana", "gemini-cli", 4_000_000, "20", 0.38),
    DemoStory("PAY-106", "Payout report CSV export", 3, "ben", "codex", None, "10", 0.31),
    DemoStory("PAY-107", "Migrate the ledger to idempotent writes", 8, "eli", "claude-code", None, "12", 1.22),
    DemoStory("PAY-108", "Fraud score shown on the order page", 5, "chloe", "gemini-cli", 3_000_000, None, 0.44),
    DemoStory("PAY-109", "Flaky settlement test", 2, "dev", "codex", None, "8", 0.52),
    DemoStory("PAY-110", "Apple Pay button", 3, "eli", "claude-code", None, "14", 0.27),
    DemoStory("PAY-111", "Tax IDs on receipts", 2, "ana", "aider-local", 1_500_000, None, 0.35),
    DemoStory("PAY-112", "Dunning e-mails for failed renewals", 5, "ben", "claude-code", 2_500_000, "18", 0.12),
]
OVER, OVERRIDDEN, RUNAWAY = "PAY-103", "PAY-107", "PAY-109"


class DemoRefused(RuntimeError):
    """The database already holds data; the message says how to seed anyway."""


def has_data(session: Session) -> bool:
    return (session.scalar(select(UsageEvent.id).limit(1)) is not None
            or session.scalar(select(Story.key).limit(1)) is not None)


def seed(session: Session, pricer: Pricer, warn_threshold: Decimal, now: datetime, force: bool = False) -> dict:
    """Three sprints (two past, one on day 7 of 14), their stories, budgets and usage; returns what was made."""
    if has_data(session) and not force:
        raise DemoRefused("the database already holds stories or usage; `budgetbot demo --force` adds the demo "
                          "to it anyway (or point BUDGETBOT_DATABASE_URL at a new database)")
    rng = random.Random(43)
    start = datetime.combine(now.date() - timedelta(days=6), time(0), UTC)
    names = []
    for number, offset in ((41, -2), (42, -1), (43, 0)):
        first = start + timedelta(days=offset * SPRINT_DAYS)
        last = first + timedelta(days=SPRINT_DAYS - 1)
        name = f"Sprint {number}"
        if sprints.find(session, name) is None:
            sprints.add(session, name, f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}")
        names.append(name)
    events = 0
    for past, sprint_start in ((names[0], start - 2 * timedelta(days=SPRINT_DAYS)),
                               (names[1], start - timedelta(days=SPRINT_DAYS))):
        for n, demo in enumerate(CURRENT[:8]):
            past_story = DemoStory(f"PAY-{past[-2:]}{n}", f"{demo.summary} (earlier work)", demo.points,
                                   demo.assignee, demo.agent, demo.tokens, demo.usd, rng.uniform(0.5, 1.3), True)
            events += _story(session, pricer, warn_threshold, rng, past_story, past, sprint_start,
                             sprint_start + timedelta(days=SPRINT_DAYS), now)
    for demo in CURRENT:
        events += _story(session, pricer, warn_threshold, rng, demo, names[2], start, now - timedelta(hours=1), now)
    events += _runaway(session, pricer, warn_threshold, now)
    _override(session, now)
    return {"sprints": names, "stories": len(CURRENT) + 16, "events": events}


def _story(session, pricer, warn, rng, demo: DemoStory, sprint: str, first: datetime, until: datetime,
           now: datetime) -> int:
    set_budget(session, demo.key, demo.tokens, None if demo.usd is None else usd_to_nano(Decimal(demo.usd)), warn)
    story_fields.update(session, demo.key, {"summary": demo.summary, "sprint": sprint, "points": demo.points,
                                            "assignee": demo.assignee})
    model, provider, cached = AGENTS[demo.agent]
    # Spend so far: the budget's share in dollars, or for a token budget, in tokens.
    goal_nano = usd_to_nano(Decimal(demo.usd)) * demo.burn if demo.usd else None
    goal_tokens = (demo.tokens or 0) * demo.burn
    spent_nano, spent_tokens, batch = 0, 0, []
    span = max((until - first).total_seconds(), 3600)
    n = 0
    # Stop at whichever budget reaches its share first (a story with both is judged on the worse).
    while (goal_nano is None or spent_nano < goal_nano) and (not demo.tokens or spent_tokens < goal_tokens):
        n += 1
        # Work starts slow and speeds up: more of the spend late in the span, as a burn-down shows.
        at = first + timedelta(seconds=span * (rng.random() ** 0.7))
        at = at.replace(hour=min(max(at.hour, 8), 19))
        if at >= now:
            at = now - timedelta(minutes=rng.randint(5, 50))
        counts = _counts(rng, cached)
        event = UsageEventIn(event_id=f"demo-{demo.key}-{n}", story=demo.key, model=model, provider=provider,
                             agent=demo.agent, run_id=f"demo-{demo.key}-run-{n // 6}", occurred_at=at,
                             tool_calls=rng.randint(0, 12), attributes={"team": "payments"}, **counts)
        priced = pricer.price(TokenCounts(input=counts["input_tokens"], output=counts["output_tokens"],
                                          cache_read=counts["cache_read_tokens"]), model, provider, at)
        # An unpriced model spends no dollars: its dollar goal is met by tokens (priced at a notional $3/MTok).
        spent_nano += priced.nano_usd if priced.priced else (counts["input_tokens"] + counts["output_tokens"]) * 3000
        spent_tokens += counts["input_tokens"] + counts["output_tokens"]
        batch.append(event)
    if batch:
        ingest(session, batch, pricer, warn, now=now)
    if demo.resolved:
        story_fields.update(session, demo.key, {"resolved": True}, now=min(until, now))
    return len(batch)


def _counts(rng: random.Random, cached: float) -> dict:
    prompt = rng.randint(20_000, 110_000)
    return {"input_tokens": prompt, "output_tokens": rng.randint(800, 6_000),
            "cache_read_tokens": int(prompt * cached * rng.uniform(0.8, 1.0))}


def _runaway(session, pricer, warn, now: datetime) -> int:
    """A loop: the same failing tool call, 25 times in 12 minutes. Preflight blocks its run (error breaker)."""
    model, provider, _ = AGENTS["codex"]
    began = now - timedelta(hours=20)
    events = [UsageEventIn(event_id=f"demo-loop-{n}", story=RUNAWAY, model=model, provider=provider, agent="codex",
                           run_id="demo-runaway-loop", occurred_at=began + timedelta(seconds=30 * n),
                           outcome="ok" if n < 3 else "error", tool_calls=40, input_tokens=95_000,
                           output_tokens=2_500, cache_read_tokens=20_000, cache_write_tokens=0, reasoning_tokens=0,
                           attributes={"team": "payments"})
              for n in range(25)]
    ingest(session, events, pricer, warn, now=now)
    return len(events)


def _override(session, now: datetime) -> None:
    """A lead accepted PAY-107's overrun on its pull request (GitHub's override label), so its check passes."""
    from bot.integrations.github.tables import (
        GitHubOverride,
        GitHubPullRequest,
        GitHubPullRequestStory,
        GitHubRepository,
    )

    if session.get(GitHubRepository, 4242) is None:
        session.add(GitHubRepository(id=4242, full_name="acme/payments"))
    pr = session.scalar(select(GitHubPullRequest).where(GitHubPullRequest.repo_id == 4242,
                                                        GitHubPullRequest.number == 318))
    if pr is None:
        pr = GitHubPullRequest(repo_id=4242, repo_full_name="acme/payments", number=318, head_sha="d3m0" * 10,
                               head_ref="PAY-107-idempotent-ledger", title="PAY-107 idempotent ledger writes",
                               html_url="https://github.com/acme/payments/pull/318", state="open",
                               labels=["budget-override"], story_keys=[OVERRIDDEN])
        session.add(pr)
        session.flush()
        session.add(GitHubPullRequestStory(pull_request_id=pr.id, story_key=OVERRIDDEN))
        session.add(GitHubOverride(pull_request_id=pr.id, source="label", approved_by="eli-lead",
                                   approved_at=now - timedelta(hours=3), head_sha=pr.head_sha,
                                   stories={OVERRIDDEN: "over"}))
    session.flush()
