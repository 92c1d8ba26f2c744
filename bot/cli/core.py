"""The core commands: serve, db, token, budget, status, rebuild, prices."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@with_app
def serve(app: Flask, host: str, port: int) -> None:
    """Serve the web app with the development server (use waitress in production: see Procfile)."""
    app.run(host=host, port=port, use_reloader=False, threaded=True)


@click.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.argument("revision", default="heads")
@with_app(schema=False)
def db_upgrade(app: Flask, revision: str) -> None:
    """Apply migrations (default: all of them)."""
    from bot.migrate import upgrade

    upgrade(app.config["SETTINGS"].database_url, revision)
    click.echo("database is up to date")


@click.group()
def token() -> None:
    """API tokens for agents and proxies (POST /api/v1/usage)."""


@token.command("create")
@click.argument("name")
@with_app
def token_create(app: Flask, name: str) -> None:
    """Create a token and print its secret. It is shown this once; only its SHA-256 is kept."""
    from bot.db import get_db
    from bot.web.auth import TokenError, create_token

    try:
        with get_db().transaction() as session:
            secret = create_token(session, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(secret)
    click.echo(f"token {name!r} created; store it now, it cannot be shown again", err=True)


@token.command("list")
@with_app
def token_list(app: Flask) -> None:
    """List tokens (names and dates, never secrets)."""
    from bot.db import get_db
    from bot.web.auth import list_tokens

    with get_db().session_factory() as session:
        tokens = list_tokens(session)
    if not tokens:
        click.echo("no tokens; create one with `budgetbot token create NAME`")
    for item in tokens:
        state = f"revoked {item.revoked_at:%Y-%m-%d %H:%M}" if item.revoked_at else "active"
        click.echo(f"{item.name}\tcreated {item.created_at:%Y-%m-%d %H:%M}\t{state}")


@token.command("revoke")
@click.argument("name")
@with_app
def token_revoke(app: Flask, name: str) -> None:
    """Revoke a token: requests using it get 401 from now on."""
    from bot.db import get_db
    from bot.web.auth import TokenError, revoke_token

    try:
        with get_db().transaction() as session:
            revoke_token(session, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {name!r} revoked")


@click.group()
def budget() -> None:
    """Story budgets."""


@budget.command("set")
@click.argument("key")
@click.argument("amounts", nargs=-1)
@click.option("--tokens", "bare_tokens", is_flag=True, help="A bare number is a token count (`5000`).")
@with_app
def budget_set(app: Flask, key: str, amounts: tuple[str, ...], bare_tokens: bool) -> None:
    """Set KEY's budget: `200k` or `200000 tokens`, `'$5'`, or both (`200k '$5'`). A part not given is kept.

    A bare number is refused (is `5` five tokens or five dollars?): write `5k`, `5000 tokens` or `'$5'`, or pass
    --tokens. Quote dollar amounts: the shell turns an unquoted $5 into nothing and $3.50 into `.50`.
    """
    from bot.db import get_db
    from bot.ledger.budgets import BudgetError, parse_budget, usd_to_nano
    from bot.ledger.ingest import set_budget
    from bot.ledger.keys import InvalidStoryKey, normalize_key

    try:
        key = normalize_key(key)
    except InvalidStoryKey as exc:
        raise click.ClickException(str(exc)) from None
    text = " / ".join(_budget_parts(amounts, bare_tokens))
    try:
        parsed = parse_budget(text)
    except BudgetError as exc:
        raise click.ClickException(str(exc)) from None
    settings = app.config["SETTINGS"]
    with get_db().transaction() as session:
        set_budget(session, key, parsed.tokens, None if parsed.usd is None else usd_to_nano(parsed.usd),
                   settings.warn_threshold)
    _print_status(app, key)


_BARE_NUMBER = re.compile(r"^\d[\d,_]*(\.\d+)?$")


def _budget_parts(amounts: tuple[str, ...], bare_tokens: bool) -> list[str]:
    """The amounts as parse_budget takes them, refusing what the shell or a missing unit made ambiguous."""
    # "200000 tokens" arrives as two words: join a unit word to the number before it.
    words = [w for a in amounts for w in a.split()]
    parts: list[str] = []
    for word in words:
        if word.lower() in ("tokens", "token", "usd") and parts:
            parts[-1] += " " + word
        else:
            parts.append(word)
    if not parts:
        raise click.ClickException("give an amount: `200k`, `200000 tokens` or '$5' (quote dollar amounts: "
                                   "the shell turns an unquoted $5 into nothing)")
    for index, part in enumerate(parts):
        if re.match(r"^\.\d", part):
            raise click.ClickException(f"{part!r} looks like a dollar amount the shell cut short: quote it, "
                                       f"e.g. '$3{part}'")
        if _BARE_NUMBER.match(part):
            if not bare_tokens:
                raise click.ClickException(f"{part!r} has no unit: write {part}k or '{part} tokens' for tokens, "
                                           f"'${part}' for dollars, or pass --tokens")
            parts[index] = part + " tokens"
    return parts


@budget.command("list")
@with_app
def budget_list(app: Flask) -> None:
    """List the stories with a budget: status, spend against budget."""
    from sqlalchemy import or_, select

    from bot.cli.stories import _line
    from bot.db import get_db
    from bot.ledger.tables import Story

    with get_db().session_factory() as session:
        rows = session.scalars(select(Story).where(
            Story.deleted.is_(False), or_(Story.budget_tokens.is_not(None), Story.budget_nano_usd.is_not(None)))
            .order_by(Story.key)).all()
        lines = [_line(s, app.config["SETTINGS"].warn_threshold) for s in rows]
    if not lines:
        click.echo("no budgets; set one with `budgetbot budget set KEY 200k`")
    for line in lines:
        click.echo(line)


@budget.command("clear")
@click.argument("key")
@with_app
def budget_clear(app: Flask, key: str) -> None:
    """Remove KEY's budget (tokens and dollars); its spend is kept."""
    from bot.db import get_db
    from bot.ledger.ingest import set_budget
    from bot.ledger.keys import InvalidStoryKey, normalize_key
    from bot.ledger.tables import Story

    try:
        key = normalize_key(key)
    except InvalidStoryKey as exc:
        raise click.ClickException(str(exc)) from None
    with get_db().transaction() as session:
        if session.get(Story, key) is None:
            raise click.ClickException(f"no budget or spend recorded for {key}")
        set_budget(session, key, None, None, app.config["SETTINGS"].warn_threshold, clear_missing=True)
    click.echo(f"{key}: budget cleared (spend kept)")


@click.command()
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as GET /api/v1/stories/KEY.")
@with_app
def status(app: Flask, key: str, as_json: bool) -> None:
    """Budget, spend and status of a story."""
    from bot.ledger.keys import InvalidStoryKey, normalize_key

    try:
        key = normalize_key(key)
    except InvalidStoryKey as exc:
        raise click.ClickException(str(exc)) from None
    _print_status(app, key, as_json)


def _print_status(app: Flask, key: str, as_json: bool = False) -> None:
    from bot.db import get_db
    from bot.ledger.read import story_detail
    from bot.ledger.tables import Story

    with get_db().session_factory() as session:
        story = session.get(Story, key)
        if story is None:
            raise click.ClickException(f"no budget or spend recorded for {key} yet")
        detail = story_detail(session, story, app.config["SETTINGS"].warn_threshold)
    if as_json:
        click.echo(json.dumps(detail, indent=2))
        return
    budget, spent, pct = detail["budget"], detail["spent"], detail["percent"]
    click.echo(f"{key}  {detail['status'].upper()}")
    click.echo(f"  tokens  {spent['tokens']:,} / {_or_dash(budget['tokens'], '{:,}')}"
               f"{_pct(pct['tokens'])}")
    unpriced = f" + {detail['unpriced_events']:,} unpriced" if detail["unpriced_events"] else ""
    click.echo(f"  usd     ${spent['usd']}{unpriced} / {_or_dash(budget['usd'], '${}')}{_pct(pct['usd'])}")
    click.echo(f"  events  {detail['events']:,} ({detail['unpriced_events']:,} unpriced)")
    for title, rows in (("models", detail["by_model"]), ("agents", detail["by_agent"])):
        if rows:
            click.echo(f"  top {title}: " + ", ".join(f"{r['name'] or '(none)'} ${r['usd']}" for r in rows[:5]))


def _or_dash(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _pct(value: str | None) -> str:
    return "" if value is None else f"  ({value}%)"


@click.command()
@with_app
def rebuild(app: Flask) -> None:
    """Recompute story totals and every rollup from the ledger (they should not change)."""
    from bot.db import get_db
    from bot.ledger.ingest import rebuild as rebuild_aggregates
    from bot.ledger.rollups import rebuild as rebuild_scrum_rollups
    from bot.reports.retro.rollup import rebuild as rebuild_retro_rollup

    with get_db().transaction() as session:
        changed = rebuild_aggregates(session)
        rollups = rebuild_scrum_rollups(session)
        rollups["retro_day_rows"] = rebuild_retro_rollup(session)
    click.echo(f"rebuilt: {changed['stories_changed']} stories and {changed['day_rows_changed']} "
               "daily rows differed from the ledger and were corrected")
    click.echo("scrum rollups rebuilt: " + ", ".join(f"{name} {count}" for name, count in rollups.items()))


@click.group()
def prices() -> None:
    """Model prices (genai-prices, plus BUDGETBOT_PRICES_FILE overrides)."""


@prices.command("show")
@click.argument("model")
@click.option("--provider", help="Provider id, e.g. openai, anthropic, google.")
@with_app(schema=False)
def prices_show(app: Flask, model: str, provider: str | None) -> None:
    """Show the rates budgetbot uses for MODEL."""
    from bot.app_pricer import get_pricer

    rates = get_pricer().rates(model, provider, datetime.now(UTC).date())
    if rates is None:
        click.echo(f"{model}: unknown model; its events are stored with priced=false "
                   "(add it to BUDGETBOT_PRICES_FILE to price it)", err=True)
        sys.exit(1)
    click.echo(f"{model} -> {rates.model} ({rates.provider or 'any provider'}, from {rates.source})")
    for name, text in rates.describe().items():
        click.echo(f"  {name:<16}{text}")


COMMANDS = [serve, db, token, budget, status, rebuild, prices]
