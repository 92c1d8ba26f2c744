"""`budgetbot retro` and `export` (finance's chargeback)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask

# bot.reports.export.GROUPS, not imported: that module pulls in the pricer (genai-prices), slowing every command.
GROUPS = ("story", "team", "cost_center", "agent", "model", "day")

FORMATS = ("md", "html", "json")


@click.command()
@click.option("--sprint", "sprint_name", metavar="NAME", help="Report on this sprint (see `budgetbot sprint list`).")
@click.option("--from", "start", metavar="DATE",
              help="Report on a date range from DATE (the team's day, YYYY-MM-DD)...")
@click.option("--to", "end", metavar="DATE", help="... to DATE, inclusive.")
@click.option("--project", metavar="KEY", help="Only this Jira project's stories and spend.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@click.option("--post", metavar="slack|jira:KEY", help="Also post it: Slack messages, or a comment on a Jira issue.")
@click.option("--channel", help="Slack channel for --post slack (default BUDGETBOT_SLACK_CHANNEL).")
@click.option("--route", multiple=True, metavar="PROVIDER=MODEL",
              help="The cheaper model to price a provider's premium models with (default e.g. "
                   "anthropic=claude-haiku-4-5). Repeatable.")
@with_app
def retro(app: Flask, sprint_name: str | None, start: str | None, end: str | None, project: str | None,
          fmt: str, out: Path | None, post: str | None, channel: str | None, route: tuple[str, ...]) -> None:
    """The sprint retrospective: budget vs actual per story, where overruns went, caching, routing savings,
    unit costs, showback, anomalies, the trend and suggested budgets.

    \b
    budgetbot retro --sprint "Sprint 42" --format html --out retro.html
    budgetbot retro --from 2026-03-02 --to 2026-03-13 --project PROJ --format json
    budgetbot retro --sprint "Sprint 42" --post slack
    """
    from bot.app_pricer import get_pricer
    from bot.db import get_db
    from bot.ledger.keys import InvalidStoryKey, normalize_key
    from bot.reports.export import reading_session
    from bot.reports.retro import post as posting
    from bot.reports.retro import render
    from bot.reports.retro.period import PeriodError, date_range, sprint_period
    from bot.reports.retro.report import build

    if bool(sprint_name) == bool(start or end) or (not sprint_name and not (start and end)):
        raise click.ClickException("give either --sprint NAME or both --from DATE and --to DATE")
    economy = _routes(route)
    jira_key = None
    if post and post != "slack":
        if not post.startswith("jira:"):
            raise click.ClickException("--post takes slack or jira:KEY (e.g. jira:PROJ-100)")
        try:
            jira_key = normalize_key(post.removeprefix("jira:"))
        except InvalidStoryKey as exc:
            raise click.ClickException(f"--post: {exc}") from None
    settings = app.config["SETTINGS"]
    with reading_session(get_db().engine) as session:
        try:
            if sprint_name:
                period = sprint_period(session, sprint_name)
            elif start and end:
                period = date_range(start, end)
            else:  # ruled out by the check above; this narrows the types
                raise click.ClickException("give either --sprint NAME or both --from DATE and --to DATE")
        except PeriodError as exc:
            raise click.ClickException(str(exc)) from None
        report = build(session, period, pricer=get_pricer(), warn_threshold=settings.warn_threshold,
                       project=project.upper() if project else None, economy=economy)
    if post:  # through the outbox, never inline (DESIGN rule 3)
        with get_db().transaction() as session:
            if jira_key:
                posting.post_jira(session, report, jira_key)
                click.echo(f"queued the retro comment on {jira_key}", err=True)
            else:
                sent = posting.post_slack(session, report, channel)
                click.echo(f"queued {len(sent)} Slack message(s)", err=True)
    text = {"md": render.to_markdown, "html": render.to_html, "json": render.to_json}[fmt](report)
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


def _routes(pairs: tuple[str, ...]) -> dict[str, str]:
    economy = {}
    for pair in pairs:
        provider, sep, model = pair.partition("=")
        if not sep or not provider.strip() or not model.strip():
            raise click.ClickException(f"--route {pair!r}: expected PROVIDER=MODEL, e.g. openai=gpt-4o-mini")
        economy[provider.strip().lower()] = model.strip()
    return economy


@click.command("export")
@click.option("--from", "start", required=True, metavar="DATE", help="First day (UTC, YYYY-MM-DD).")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option("--format", "fmt", type=click.Choice(("csv", "jsonl")), default="csv", show_default=True)
@click.option("--group-by", type=click.Choice(GROUPS), help="Sum per this instead of one line per event.")
@click.option("--project", metavar="KEY", help="Only this Jira project's stories.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout.")
@with_app
def export(app: Flask, start: str, end: str, fmt: str, group_by: str | None, project: str | None,
           out: Path | None) -> None:
    """Ledger rows, or sums per story/team/cost center/agent/model/day, for finance's chargeback.
    Streamed: any size, constant memory.

    \b
    budgetbot export --from 2026-03-01 --to 2026-03-31 --group-by cost_center > march.csv
    budgetbot export --from 2026-03-01 --to 2026-03-31 --format jsonl --out march.jsonl
    """
    from bot.db import get_db
    from bot.reports.export import export_lines, reading_session
    from bot.reports.retro.period import PeriodError, date_range

    try:
        period = date_range(start, end)
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from None
    stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        with reading_session(get_db().engine) as session:
            for line in export_lines(session, period, fmt, group_by, project.upper() if project else None):
                stream.write(line)
    finally:
        if out:
            stream.close()
    if out:
        click.echo(f"wrote {out}", err=True)


COMMANDS = (retro, export)  # `sprint` moved to bot/cli/sprints.py
