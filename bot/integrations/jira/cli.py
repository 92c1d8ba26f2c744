"""`budgetbot jira check|setup|reconcile`: the doctor, field creation, and a reconcile on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask


@click.group("jira")
def jira_group() -> None:
    """Jira: "Token Budget" in, "Token Spend" out, over-budget escalation (see docs/jira.md)."""


@jira_group.command("check")
@with_app
def check(app: Flask) -> None:
    """Try the credentials, find the fields, check permissions, screens and the transition; print what to fix."""
    from bot.integrations.jira.doctor import run_checks

    checks = run_checks(app.config["SETTINGS"])
    labels = {"ok": "  ok  ", "warn": "  WARN", "fail": "  FIX "}
    for item in checks:
        click.echo(f"{labels[item.level]} {item.text}")
    failed = sum(item.level == "fail" for item in checks)
    if failed:
        raise click.ClickException(f"{failed} problem(s) to fix before budgetbot can work with Jira")
    click.echo("Jira is ready")


@jira_group.command("setup")
@click.option("--budget-type", type=click.Choice(["text", "number"]), default="text", show_default=True,
              help="text accepts '200k', '$5' or '200k / $5'; number holds tokens only.")
@click.option("--dry-run", is_flag=True, help="Print the requests instead of creating fields.")
@with_app
def setup(app: Flask, budget_type: str, dry_run: bool) -> None:
    """Create the Token Budget and Token Spend custom fields if they are missing (needs Jira admin)."""
    from bot.integrations.jira.client import JiraClient, JiraRejected, JiraUnavailable
    from bot.integrations.jira.doctor import setup_fields
    from bot.integrations.jira.fields import FieldError

    try:
        for line in setup_fields(JiraClient(app.config["SETTINGS"]), app.config["SETTINGS"], budget_type, dry_run):
            click.echo(line)
    except (FieldError, JiraRejected, JiraUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("next: add the fields to your projects' screens, then run `budgetbot jira check`")


@jira_group.command("reconcile")
@click.option("--jql", help="Issues to reconcile (default: BUDGETBOT_JIRA_RECONCILE_JQL, else the configured "
                            "projects' issues updated in the last day).")
@with_app
def reconcile_command(app: Flask, jql: str | None) -> None:
    """Mirror budgets and story details from Jira and queue Token Spend writes where Jira is behind."""
    from bot.db import get_db
    from bot.integrations.jira.client import JiraRejected, JiraUnavailable
    from bot.integrations.jira.fields import FieldError
    from bot.integrations.jira.reconcile import reconcile

    try:
        counts = reconcile(app.config["SETTINGS"], get_db(app), jql)
    except (FieldError, JiraRejected, JiraUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reconciled {counts['issues']} issue(s) for {counts['jql']!r}: {counts['budgets_changed']} "
               f"budget(s) changed, {counts['spend_queued']} Token Spend write(s) queued, "
               f"{counts['sprints']} sprint(s) synced")
