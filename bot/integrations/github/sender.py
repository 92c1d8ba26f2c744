"""Outbox sender `github.check_run`: POST the check on a new head SHA, PATCH the same run after that."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from bot.integrations.github import client
from bot.integrations.github.checks import CHECK_KIND, evaluate_sha
from bot.integrations.github.client import CHECK_RUN, CHECK_RUNS
from bot.integrations.github.report import CheckOutput
from bot.integrations.github.tables import GitHubCheckRun, GitHubRepository
from bot.outbox import PermanentError, SendContext, SenderSet
from bot.upsert import dialect_insert

senders = SenderSet("github")


def check_body(output: CheckOutput, settings, now: datetime, head_sha: str | None = None) -> dict:
    """The JSON GitHub gets. `head_sha` only when creating: a PATCH keeps the run on its commit."""
    body: dict = {"name": settings.github_check_name}
    if head_sha is not None:
        body["head_sha"] = head_sha
    body.update({"status": "completed", "conclusion": output.conclusion,
                 "completed_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    if output.details_url:
        body["details_url"] = output.details_url
    body["output"] = {"title": output.title, "summary": output.summary}
    body["actions"] = output.actions  # always sent: an empty list removes an earlier "Approve overrun" button
    return body


@senders.sender(CHECK_KIND)
def send_check_run(payload: dict, ctx: SendContext) -> dict | None:
    settings = ctx.settings
    db = ctx.db
    assert db is not None, "the worker gives every sender the app's database"
    repo_id, sha = payload["repo_id"], payload["sha"]
    with db.session_factory() as session:
        evaluation = evaluate_sha(session, settings, repo_id, sha, payload.get("branch"))
        posted = session.scalar(select(GitHubCheckRun).where(GitHubCheckRun.repo_id == repo_id,
                                                             GitHubCheckRun.head_sha == sha))
        repo = session.get(GitHubRepository, repo_id)
    if evaluation is None:
        return {"skipped": "every pull request on this commit is closed"}
    full_name = repo.full_name if repo is not None else payload["repo"]
    if posted is not None:
        method, path = "PATCH", CHECK_RUN.format(repo=full_name, run_id=posted.check_run_id)
        body = check_body(evaluation.output, settings, ctx.now)
    else:
        method, path = "POST", CHECK_RUNS.format(repo=full_name)
        body = check_body(evaluation.output, settings, ctx.now, head_sha=sha)
    if ctx.dry_run:
        ctx.record(method, settings.github_api_url.rstrip("/") + path, body)
        return None
    installation_id = (evaluation.installation_id or (repo.installation_id if repo is not None else None)
                       or payload.get("installation_id"))
    if installation_id is None:
        raise PermanentError(f"no GitHub App installation is known for {full_name}: install the App on it "
                             "(or redeliver its installation event from the App's Advanced settings)")
    github = client.client(settings, installation_id)
    if posted is None:
        answer = github.create_check_run(full_name, body)
    else:
        try:
            answer = github.update_check_run(full_name, posted.check_run_id, body)
        except client.CheckRunGone:
            with db.transaction() as session:  # the next update of this commit posts a new run
                session.execute(delete(GitHubCheckRun).where(GitHubCheckRun.repo_id == repo_id,
                                                             GitHubCheckRun.head_sha == sha,
                                                             GitHubCheckRun.check_run_id == posted.check_run_id))
            raise
    # Remembered after the call: if this write is lost the retry POSTs again, and GitHub shows the newest run
    # of a name, so a duplicate is harmless; never remembering would make every later update a new run.
    with db.transaction() as session:
        stmt = dialect_insert(session, GitHubCheckRun).values(
            repo_id=repo_id, head_sha=sha, check_run_id=answer["id"], conclusion=evaluation.output.conclusion,
            title=evaluation.output.title, posted_at=ctx.now)
        session.execute(stmt.on_conflict_do_update(index_elements=["repo_id", "head_sha"], set_={
            "check_run_id": stmt.excluded.check_run_id, "conclusion": stmt.excluded.conclusion,
            "title": stmt.excluded.title, "posted_at": stmt.excluded.posted_at}))
    return {"check_run_id": answer["id"], "conclusion": evaluation.output.conclusion}
