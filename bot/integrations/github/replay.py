"""`budgetbot github replay FILE`: post a recorded webhook delivery, signed, to the local app — a trial without a
tunnel from GitHub to the laptop."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.app import with_app

if TYPE_CHECKING:
    from flask import Flask


@click.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", help="X-GitHub-Event (default: from a file named EVENT__ACTION.json, e.g. "
                              "pull_request__opened.json).")
@click.option("--url", help="Where to post (default: BUDGETBOT_PUBLIC_URL/webhooks/github).")
@click.option("--delivery", help="X-GitHub-Delivery (default: a new id, so the app does not drop it as a redelivery).")
@with_app(schema=False)
def replay(app: Flask, file: Path, event: str | None, url: str | None, delivery: str | None) -> None:
    """Post FILE (a webhook payload, as GitHub's "Recent Deliveries" shows it) to the running app, signed with
    BUDGETBOT_GITHUB_WEBHOOK_SECRET like GitHub would.

    \b
    budgetbot github replay tests/fixtures/github/pull_request__opened.json
    """
    import requests

    settings = app.config["SETTINGS"]
    if settings.github_webhook_secret is None:
        raise click.ClickException("set BUDGETBOT_GITHUB_WEBHOOK_SECRET (the app refuses unsigned deliveries)")
    event = event or file.name.split("__", 1)[0].removesuffix(".json")
    body = file.read_bytes()  # signed as is: the signature covers the exact bytes
    signature = hmac.new(settings.github_webhook_secret.get_secret_value().encode(), body, hashlib.sha256)
    target = url or f"{settings.public_url.rstrip('/')}/webhooks/github"
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": f"sha256={signature.hexdigest()}", "User-Agent": "budgetbot-replay"}
    try:
        answer = requests.post(target, data=body, headers=headers, timeout=30)
    except requests.RequestException as exc:
        raise click.ClickException(f"could not post to {target}: {type(exc).__name__} (is `make run` running? "
                                   "--url names another address)") from None
    click.echo(f"{event} delivery {headers['X-GitHub-Delivery']} -> {target}: HTTP {answer.status_code} "
               f"{answer.text.strip()[:300]}")
    if answer.status_code >= 400:
        raise SystemExit(1)
