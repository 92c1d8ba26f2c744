"""The check a head SHA deserves, computed from the database alone, and when it is (re)queued for sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.integrations.github.client import in_use
from bot.integrations.github.report import Approval, CheckOutput, StoryFigures, compose
from bot.integrations.github.tables import GitHubOverride, GitHubPullRequest, GitHubPullRequestStory
from bot.ledger import events as hooks
from bot.ledger.budgets import judge
from bot.ledger.ingest import judge_story
from bot.ledger.keys import find_keys
from bot.ledger.read import breakdown, unpriced_models
from bot.ledger.tables import Story, UsageEvent
from bot.outbox import Outgoing, enqueue_many
from bot.sql_sets import JsonSet, as_json
from bot.web.dashboard_keys import signed_story_url

CHECK_KIND = "github.check_run"


def coalesce_key(repo_id: int, sha: str) -> str:
    return f"github-check:{repo_id}:{sha}"


def check_row(repo_id: int, full_name: str, sha: str, *, branch: str | None = None,
              installation_id: int | None = None, delay: timedelta | None = None) -> Outgoing:
    """The outbox row that (re)evaluates one head SHA. The payload only says WHICH check: what it says is
    computed when it is sent, so a burst of changes posts the newest state once."""
    payload = {"repo_id": repo_id, "repo": full_name, "sha": sha, "branch": branch,
               "installation_id": installation_id}
    return Outgoing(CHECK_KIND, payload, coalesce_key(repo_id, sha), delay)


def enqueue_check(session: Session, repo_id: int, full_name: str, sha: str, *, branch: str | None = None,
                  installation_id: int | None = None, delay: timedelta | None = None) -> None:
    """Queue (or refresh the queued) evaluation of one head SHA.

    Without `delay` the check is due now, even when it coalesces into a row a spend refresh left waiting:
    a push, a label or a verdict that flipped must not sit behind the refresh interval. A row that has been
    tried keeps its wait: that is GitHub's rate-limit reset or a backoff, which a label is no reason to undo
    (and a limit covering all of GitHub holds every row anyway, see bot.outbox.store.hold)."""
    enqueue_many(session, [check_row(repo_id, full_name, sha, branch=branch, installation_id=installation_id,
                                     delay=delay)], hasten=delay is None)


@dataclass(frozen=True)
class Evaluation:
    output: CheckOutput
    installation_id: int | None


def evaluate_sha(session: Session, settings, repo_id: int, sha: str, branch: str | None = None) -> Evaluation | None:
    """The check for a head SHA; None when every PR on it is closed (closed PRs are left alone)."""
    prs = list(session.scalars(select(GitHubPullRequest).where(
        GitHubPullRequest.repo_id == repo_id, GitHubPullRequest.head_sha == sha).order_by(GitHubPullRequest.number)))
    open_prs = [pr for pr in prs if pr.state == "open"]
    if prs and not open_prs:
        return None
    if open_prs:
        output = evaluate_pull_requests(session, settings, open_prs)
        return Evaluation(output, open_prs[0].installation_id)
    # A push with no PR yet (check_suite requested): the branch name may still name the story.
    keys = find_keys([branch], settings.jira_projects)
    return Evaluation(_compose(session, settings, keys, None), None)


def evaluate_pull_requests(session: Session, settings, prs: list[GitHubPullRequest]) -> CheckOutput:
    keys: list[str] = []
    for pr in prs:
        keys += [key for key in pr.story_keys if key not in keys]
    return _compose(session, settings, keys, active_approval(session, [pr.id for pr in prs]))


def active_approval(session: Session, pr_ids: list[int]) -> Approval | None:
    override = session.scalar(select(GitHubOverride).where(
        GitHubOverride.pull_request_id.in_(pr_ids), GitHubOverride.revoked_at.is_(None))
        .order_by(GitHubOverride.approved_at.desc(), GitHubOverride.id.desc()).limit(1))
    return None if override is None else Approval(override.approved_by, override.approved_at, override.source)


def _compose(session: Session, settings, keys: list[str], approval: Approval | None) -> CheckOutput:
    figures = story_figures(session, settings, keys, overridden=approval is not None)
    return compose(figures, approval, override_label=settings.github_override_label,
                   warn_threshold=settings.warn_threshold)


def story_figures(session: Session, settings, keys: list[str], overridden: bool = False) -> list[StoryFigures]:
    stories = {s.key: s for s in session.scalars(select(Story).where(Story.key.in_(keys)))} if keys else {}
    jira = getattr(settings, "jira_url", None)  # BUDGETBOT_JIRA_URL belongs to the Jira integration
    figures = []
    for key in keys:
        jira_url = f"{str(jira).rstrip('/')}/browse/{key}" if jira else None
        page_url = signed_story_url(settings, key)
        story = stories.get(key)
        if story is None or story.deleted:
            verdict = judge(budget_tokens=None, budget_nano_usd=None, spent_tokens=0, spent_nano_usd=0)
            figures.append(StoryFigures(key=key, verdict=verdict, jira_url=jira_url, page_url=page_url))
            continue
        figures.append(StoryFigures(
            key=key, verdict=judge_story(story, settings.warn_threshold, overridden=overridden),
            summary=story.summary, budget_tokens=story.budget_tokens, budget_nano_usd=story.budget_nano_usd,
            spent_tokens=story.spent_tokens, spent_nano_usd=story.spent_nano_usd,
            unpriced_events=story.unpriced_events, top_models=breakdown(session, key, UsageEvent.model, limit=3),
            top_agents=breakdown(session, key, UsageEvent.agent, limit=3),
            unpriced_models=unpriced_models(session, key) if story.unpriced_events else [], jira_url=jira_url,
            page_url=page_url))
    return figures


def _requeue_open_prs(session: Session, changes: list[hooks.StoryChange], refresh: timedelta | None) -> None:
    """Re-evaluate the open PRs of the changed stories, all found by one query: right away for a PR naming a
    story whose verdict flipped (every PR when `refresh` is None), otherwise after `refresh`. At most two
    inserts, whatever the number of stories and PRs."""
    keys = sorted({change.story.key for change in changes})
    flipped = {change.story.key for change in changes
               if refresh is None or change.crossed_over or change.came_back}
    wanted = JsonSet.of(session, "keys")
    query = wanted.restrict(
        select(GitHubPullRequest.repo_id, GitHubPullRequest.head_sha, GitHubPullRequest.repo_full_name,
               GitHubPullRequest.head_ref, GitHubPullRequest.installation_id, GitHubPullRequestStory.story_key)
        .join(GitHubPullRequestStory, GitHubPullRequestStory.pull_request_id == GitHubPullRequest.id)
        .where(GitHubPullRequest.state == "open"), GitHubPullRequestStory.story_key)
    found = session.execute(query, {"keys": as_json(keys)}).all()
    due_now: dict[tuple, Outgoing] = {}
    later: dict[tuple, Outgoing] = {}
    # One order for every writer (by repository and SHA), so concurrent batches lock the same keys in turn.
    for repo_id, sha, full_name, ref, installation_id, key in sorted(found, key=lambda row: tuple(map(str, row))):
        urgent = key in flipped
        (due_now if urgent else later)[(repo_id, sha)] = check_row(
            repo_id, full_name, sha, branch=ref, installation_id=installation_id, delay=None if urgent else refresh)
    enqueue_many(session, list(due_now.values()), hasten=True)
    enqueue_many(session, [row for head, row in later.items() if head not in due_now])


def on_spend_changed(session: Session, changes: list[hooks.StoryChange]) -> None:
    """Usage arrived. A story that crossed over (or came back) flips its PRs' conclusion: update them now.
    Otherwise only figures moved: update at most once per refresh interval (the delay applies to a new row;
    later events coalesce into it), so a burst costs one PATCH per PR and a long agent session a few an hour."""
    settings = current_app.config["SETTINGS"] if has_app_context() else None
    if settings is not None and not in_use(settings):
        return
    _requeue_open_prs(session, changes, timedelta(seconds=settings.github_refresh_seconds if settings else 30.0))


def on_budget_changed(session: Session, changes: list[hooks.StoryChange]) -> None:
    """A person set a budget: show it on the story's open PRs right away."""
    if not has_app_context() or in_use(current_app.config["SETTINGS"]):
        _requeue_open_prs(session, changes, None)
