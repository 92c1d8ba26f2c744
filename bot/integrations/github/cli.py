"""`budgetbot github ...`: what the "within token budget" check on a pull request says now."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask

_PR = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#([1-9][0-9]*)$")


@click.group("github")
def github() -> None:
    """GitHub App: the "within token budget" pull request check."""


@github.command("check")
@click.argument("pull_request", metavar="OWNER/REPO#N")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON body budgetbot would send to GitHub.")
@with_app
def check(app: Flask, pull_request: str, as_json: bool) -> None:
    """Print what the check on pull request OWNER/REPO#N would say now (from the database; sends nothing)."""
    from sqlalchemy import func, select  # here, not at import: `budgetbot --help` loads this module

    from bot.db import get_db, utcnow
    from bot.integrations.github.checks import evaluate_pull_requests
    from bot.integrations.github.sender import check_body
    from bot.integrations.github.tables import GitHubOverride, GitHubPullRequest

    match = _PR.match(pull_request.strip())
    if not match:
        raise click.ClickException(f"{pull_request!r}: expected OWNER/REPO#N, e.g. acme/api#42")
    full_name, number = match.group(1), int(match.group(2))
    settings = app.config["SETTINGS"]
    with get_db().session_factory() as session:
        pr = session.scalar(select(GitHubPullRequest).where(
            func.lower(GitHubPullRequest.repo_full_name) == full_name.lower(), GitHubPullRequest.number == number))
        if pr is None:
            raise click.ClickException(
                f"budgetbot has not seen {full_name}#{number}: it learns pull requests from the GitHub App's "
                "webhooks (push to or edit the PR, or redeliver its pull_request event)")
        output = evaluate_pull_requests(session, settings, [pr])
        approvals = list(session.scalars(select(GitHubOverride).where(GitHubOverride.pull_request_id == pr.id)
                                         .order_by(GitHubOverride.approved_at)))
    if as_json:
        click.echo(json.dumps(check_body(output, settings, utcnow(), head_sha=pr.head_sha), indent=2,
                              ensure_ascii=False))
        return
    state = pr.state + (": its check is no longer updated" if pr.state != "open" else "")
    click.echo(f"{pr.repo_full_name}#{pr.number} at {pr.head_sha[:12]} ({state})")
    click.echo(f"{settings.github_check_name}: {output.conclusion.upper()} - {output.title}")
    click.echo("")
    click.echo(output.summary)
    for item in approvals:
        revoked = (f", revoked by {item.revoked_by} {item.revoked_at:%Y-%m-%d %H:%M} UTC"
                   if item.revoked_at else "")
        click.echo(f"approval: {item.approved_by} via {item.source} {item.approved_at:%Y-%m-%d %H:%M} UTC{revoked}")
