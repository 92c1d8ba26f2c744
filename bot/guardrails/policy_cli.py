"""`budgetbot policy check FILE` and `budgetbot policy show [--agent A] [--story KEY]`: the guardrail policy."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app
from bot.ledger.keys import InvalidStoryKey, normalize_key, project_of

# The policy's models (pydantic) and the database side load in the commands that use them: `budgetbot --help`
# imports this module to list the commands, and must stay fast.
if TYPE_CHECKING:
    from flask import Flask

    from bot.guardrails.policy import Limits, Policy


@click.group()
def policy() -> None:
    """The guardrail policy file (BUDGETBOT_POLICY_FILE): check it, show the limits it sets."""


@policy.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Validate a policy file; prints each mistake with its key and line, exit code 1 when there is one."""
    from bot.guardrails.policy_file import PolicyError, parse_policy

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read ({exc.strerror})") from None
    try:
        parse_policy(text, str(path))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: ok")


def _shown(name: str, value) -> str:
    from bot.guardrails.judgement import money

    if value is None:
        return "-"
    if name.endswith("nano_usd"):
        return f"${money(value)}"
    if name.endswith("_at"):
        return f"{(value * 100).normalize():f}%"
    return f"{value:,}" if isinstance(value, int) else str(value)


def describe(limits: Limits) -> list[str]:
    """One line per limit: name, value, and where it was set (environment, policy, agents.X, ...)."""
    from bot.guardrails.policy import Limits

    lines = []
    for item in fields(Limits):
        if item.name == "source":
            continue
        value = getattr(limits, item.name)
        source = limits.source.get(item.name, "default" if value is not None else "")
        lines.append(f"{item.name.replace('nano_usd', 'usd'):<24} {_shown(item.name, value):>14}  {source}".rstrip())
    return lines


@policy.command("show")
@click.option("--agent", help="The agent whose limits to show.")
@click.option("--story", help="A story key: its project's and labels' overrides apply.")
@with_app
def show(app: Flask, agent: str | None, story: str | None) -> None:
    """The effective limits for an agent and a story (after defaults, project, labels and agent overrides)."""
    from bot.db import get_db
    from bot.guardrails.tables import StoryLabels

    key = None
    if story:
        try:
            key = normalize_key(story)
        except InvalidStoryKey as exc:
            raise click.UsageError(str(exc)) from None
    current: Policy = app.extensions["budgetbot.policy"].current()
    labels: tuple[str, ...] = ()
    if key:
        with get_db().session_factory() as session:
            row = session.get(StoryLabels, key)
            labels = tuple(row.labels) if row else ()
    limits = current.limits(agent, project_of(key) if key else None, labels)
    click.echo(f"policy file: {current.path or '(none: BUDGETBOT_POLICY_FILE is unset)'}")
    click.echo(f"agent: {agent or '(any)'}   story: {key or '(any)'}" + (f"   labels: {', '.join(labels)}"
                                                                          if labels else ""))
    for line in describe(limits):
        click.echo(line)


@policy.command("labels")
@click.argument("story")
@click.argument("labels", nargs=-1)
@with_app
def labels_command(app: Flask, story: str, labels: tuple[str, ...]) -> None:
    """Set the labels of STORY the policy's [labels.NAME] overrides look at (none given: clear them)."""
    from bot.db import get_db
    from bot.guardrails.figures import set_story_labels

    try:
        key = normalize_key(story)
    except InvalidStoryKey as exc:
        raise click.UsageError(str(exc)) from None
    with get_db().transaction() as session:
        stored = set_story_labels(session, key, list(labels))
    click.echo(f"{key}: labels {', '.join(stored) or '(none)'}")
