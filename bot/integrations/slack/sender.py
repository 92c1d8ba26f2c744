"""The `slack.message` sender: chat.postMessage, chat.update by the stored ts, and the chart via files_upload_v2."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import TYPE_CHECKING
from urllib.error import HTTPError, URLError

from bot.db import Database, utcnow
from bot.integrations.http import Unavailable, error_from_response
from bot.integrations.slack.tables import SlackMessage
from bot.outbox import PermanentError, SendContext, SenderSet
from bot.outbox.retry import redact

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# Slack error codes that may succeed later; every other `ok: false` answer cannot succeed by retrying.
RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
HINTS = {
    "invalid_auth": "BUDGETBOT_SLACK_TOKEN is not a valid token: create a bot token (xoxb-...) and set it",
    "not_authed": "no token was sent: set BUDGETBOT_SLACK_TOKEN",
    "token_revoked": "BUDGETBOT_SLACK_TOKEN was revoked: reinstall the app and set the new token",
    "token_expired": "BUDGETBOT_SLACK_TOKEN expired: set a fresh token",
    "account_inactive": "the token's app or user was deactivated: reinstall the app",
    "channel_not_found": "channel {channel!r} not found: check BUDGETBOT_SLACK_CHANNEL (a private channel "
                         "needs the bot invited)",
    "not_in_channel": "the bot is not in {channel!r}: invite it with /invite",
    "is_archived": "channel {channel!r} is archived: unarchive it or change BUDGETBOT_SLACK_CHANNEL",
    "missing_scope": "the token lacks a scope: give the app chat:write and files:write, then reinstall",
    "invalid_blocks": "Slack rejected the message blocks (a budgetbot bug: please report it)",
    "msg_too_long": "the message is too long for Slack (a budgetbot bug: please report it)",
}
KIND = "slack.message"
senders = SenderSet("slack")


class _Scrubbed(logging.Filter):
    """slack_sdk logs a body it cannot decode verbatim; an echoed token must not reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


SDK_LOG = logging.getLogger("bot.integrations.slack.sdk")
SDK_LOG.addFilter(_Scrubbed())
ERROR_CODE = re.compile(r"^[a-z0-9_]+$")  # what Slack's `error` looks like; slack_sdk puts prose there for a bad body


def make_client(settings) -> WebClient:
    """A WebClient on BUDGETBOT_SLACK_API_URL with slack_sdk's own retries off: the outbox retries, and
    two layers of retries would multiply each other."""
    from slack_sdk import WebClient  # slack_sdk loads when a message is sent: every process registers this sender

    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    return WebClient(token=settings.slack_token.get_secret_value(), base_url=base_url, timeout=15,
                     retry_handlers=[], logger=SDK_LOG)


@senders.sender(KIND)
def send_message(payload: dict, ctx: SendContext) -> dict | None:
    """Post (or edit, when `update_key` was posted before) one message, then upload its chart to its thread."""
    settings = ctx.settings
    channel = payload.get("channel") or settings.slack_channel
    if not channel:
        raise PermanentError("no Slack channel: set BUDGETBOT_SLACK_CHANNEL (or give the message a channel)")
    # Without an update_key, the outbox row id still makes a retried send edit instead of posting twice.
    row_id = getattr(ctx, "row_id", None)
    key = payload.get("update_key") or (f"outbox:{row_id}" if row_id is not None else None)
    db = ctx.db
    assert db is not None, "the worker gives every sender the app's database"
    earlier = _load(db, key)
    message = {"text": payload.get("text") or "", "blocks": payload.get("blocks") or None}
    image = payload.get("image")
    if ctx.dry_run:
        _record_dry_run(ctx, settings, channel, earlier, message, image)
        return None
    from slack_sdk.errors import SlackApiError, SlackClientError  # see make_client: loaded when sending

    client = make_client(settings)
    try:
        channel_id, ts = _post_or_update(client, db, key, channel, earlier, message)
        if image:
            _upload_chart(client, db, key, channel_id, ts, earlier, image)
    except SlackApiError as exc:
        raise _error(exc, channel, settings) from None
    except HTTPError as exc:  # the upload step talks to files.slack.com directly
        raise error_from_response(exc.code, dict(exc.headers or {}), "", service="Slack", where="file upload",
                                  rate_limit_scope="kind", secrets=_secrets(settings)) from None
    except (URLError, TimeoutError, ConnectionError, SlackClientError) as exc:
        raise Unavailable(f"Slack unreachable: {type(exc).__name__}") from None
    return {"channel": channel_id, "ts": ts}


def _post_or_update(client: WebClient, db: Database, key: str | None, channel: str,
                    earlier: SlackMessage | None, message: dict) -> tuple[str, str]:
    from slack_sdk.errors import SlackApiError  # see make_client

    if earlier is not None:
        try:
            client.chat_update(channel=earlier.channel_id, ts=earlier.ts, **message)
            return earlier.channel_id, earlier.ts
        except SlackApiError as exc:
            if exc.response.get("error") != "message_not_found":
                raise
            log.info("Slack message %s was deleted; posting it again", key)
    answer = client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False, **message)
    channel_id, ts = answer["channel"], answer["ts"]
    if key is not None:
        _save(db, key, channel_id=channel_id, ts=ts, file_id=None, image_sha256=None)
    return channel_id, ts


def _upload_chart(client: WebClient, db: Database, key: str | None, channel_id: str, ts: str,
                  earlier: SlackMessage | None, image: dict) -> None:
    from slack_sdk.errors import SlackApiError  # see make_client

    data = base64.b64decode(image["png_b64"])
    digest = hashlib.sha256(data).hexdigest()
    if earlier is not None and earlier.image_sha256 == digest and earlier.ts == ts:
        return  # the same chart is already in the thread
    answer = client.files_upload_v2(channel=channel_id, thread_ts=ts, file=data, filename=image["filename"],
                                    title=image.get("title") or image["filename"])
    file_id = answer["file"]["id"]
    if key is not None:
        _save(db, key, channel_id=channel_id, ts=ts, file_id=file_id, image_sha256=digest)
    if earlier is not None and earlier.file_id and earlier.file_id != file_id:
        try:  # the stale chart: best effort, a leftover image is harmless
            client.files_delete(file=earlier.file_id)
        except SlackApiError as exc:
            log.warning("could not delete the old chart %s: %s", earlier.file_id, exc.response.get("error"))


def _record_dry_run(ctx: SendContext, settings, channel: str, earlier: SlackMessage | None, message: dict,
                    image: dict | None) -> None:
    base = settings.slack_api_url.rstrip("/") + "/"
    body = {k: v for k, v in message.items() if v is not None}
    if earlier is not None:
        ctx.record("POST", base + "chat.update", {"channel": earlier.channel_id, "ts": earlier.ts, **body})
        channel, ts = earlier.channel_id, earlier.ts
    else:
        ctx.record("POST", base + "chat.postMessage",
                   {"channel": channel, "unfurl_links": False, "unfurl_media": False, **body})
        ts = "(ts of the posted message)"
    if image:
        size = len(base64.b64decode(image["png_b64"]))
        ctx.record("POST", base + "files.getUploadURLExternal", {"filename": image["filename"], "length": size})
        ctx.record("POST", "(upload_url from files.getUploadURLExternal)", {"bytes": size})
        ctx.record("POST", base + "files.completeUploadExternal",
                   {"files": [{"id": "(file_id)", "title": image.get("title") or image["filename"]}],
                    "channel_id": channel, "thread_ts": ts})


def _error(exc: SlackApiError, channel: str, settings) -> Exception:
    """Slack's answer through the HTTP base (status, Retry-After, scrubbing), with Slack's error codes on top:
    a 429 or `ratelimited` holds every Slack message (its limits are per method), a code that may pass is
    retried, and a 200 whose body is not JSON is transient: a proxy's page, most likely, not a refusal."""
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    code = str(data.get("error") or "")
    headers = dict(exc.response.headers or {})
    if code == "ratelimited" and status != 429:
        status = 429
    if status >= 400:
        hint = HINTS.get(code, "Slack refused the request").format(channel=channel)
        return error_from_response(status, headers, code, service="Slack", where=exc.response.api_url, hint=hint,
                                   rate_limit_scope="kind", secrets=_secrets(settings))
    if code and not ERROR_CODE.match(code):
        return Unavailable(f"Slack answered {exc.response.api_url} with a body that is not JSON (a proxy in the "
                           "way, or Slack having trouble); tried again later", status=status)
    if code in RETRYABLE:
        return Unavailable(f"Slack answered {code}", status=status)
    hint = HINTS.get(code, "Slack refused the request")
    return PermanentError(f"Slack error {code or status}: {hint.format(channel=channel)}")


def _secrets(settings) -> list[str]:
    return [settings.slack_token.get_secret_value()] if settings.slack_token is not None else []


def _load(db: Database, key: str | None) -> SlackMessage | None:
    if key is None:
        return None
    with db.session_factory() as session:
        return session.get(SlackMessage, key)


def _save(db: Database, key: str, **values) -> None:
    with db.transaction() as session:
        row = session.get(SlackMessage, key)
        if row is None:
            session.add(SlackMessage(update_key=key, **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
