"""Settings: every knob is an environment variable with the BUDGETBOT_ prefix."""

from __future__ import annotations

import difflib
import logging
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def user_data_dir() -> Path:
    """Where the ledger lives by default, whatever folder a command runs from (XDG on Linux)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "budgetbot"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "budgetbot"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "budgetbot"


DEFAULT_DATABASE_URL = f"sqlite:///{user_data_dir() / 'budgetbot.sqlite3'}"
DEFAULT_DIGEST_DAYS = "mon-fri"
# Variables that are budgetbot's but not settings: the test suite's server, and the dotenv file's path.
NOT_SETTINGS = {"BUDGETBOT_TEST_DATABASE_URL", "BUDGETBOT_ENV_FILE"}
log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """A setting is wrong; the message names the environment variable."""


class Settings(BaseSettings):
    # A .env file in the working folder (the repo root for `make run`) is read too; the environment wins.
    model_config = SettingsConfigDict(env_prefix="BUDGETBOT_", extra="ignore", env_file=".env",
                                      env_file_encoding="utf-8")

    # --- core ---
    database_url: str = DEFAULT_DATABASE_URL
    dry_run: bool = False
    public_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    warn_threshold: Decimal = Field(default=Decimal("0.8"), gt=0, le=1)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_batch_events: int = Field(default=1000, gt=0)
    jira_projects: Annotated[list[str], NoDecode] = []

    # --- pricing ---
    prices_file: Path | None = None

    # --- verdict: unpriced spend and sane input (issue 12) ---
    block_unpriced: bool = False  # preflight blocks (not only warns) a dollar-budget story with unpriced spend
    max_future_seconds: int = Field(default=300, ge=0)  # occurred_at may lie at most this far ahead of now
    # A verified API token is trusted this long without a lookup; a revoked one stops working within it.
    token_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # --- circuit breakers (preflight) ---
    run_max_tokens: int | None = Field(default=None, gt=0)
    run_max_usd: Decimal | None = Field(default=None, gt=0)
    run_max_tool_calls: int | None = Field(default=None, gt=0)
    max_consecutive_errors: int = Field(default=3, ge=1)

    # --- guardrails: the policy file and reservations (docs/guardrails.md) ---
    policy_file: Path | None = None  # TOML caps per run, agent/org day and month, with overrides; reloaded live
    reservation_seconds: float = Field(default=120.0, gt=0, le=86_400)  # an allowed estimate is held this long

    # --- outbox ---
    outbox_max_attempts: int = Field(default=12, ge=1)  # then the row is dead (kept; `outbox retry` re-drives)
    outbox_backoff_base_seconds: float = Field(default=10.0, gt=0)  # first retry after 5-10 s, then doubling
    outbox_backoff_cap_seconds: float = Field(default=3600.0, gt=0)  # longest wait between tries
    outbox_lease_seconds: float = Field(default=300.0, gt=0)  # a dead worker's row is reclaimed after this
    outbox_batch_size: int = Field(default=50, ge=1, le=1000)  # rows claimed at a time
    outbox_poll_seconds: float = Field(default=1.0, gt=0)  # idle worker looks for due rows this often

    # --- github ---
    github_webhook_secret: SecretStr | None = None
    github_app_id: int | None = Field(default=None, gt=0)
    github_private_key: SecretStr | None = None  # PEM text; "\\n" escapes are accepted
    github_private_key_path: Path | None = None
    github_api_url: str = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
    github_check_name: str = Field(default="within token budget", min_length=1, max_length=100)
    github_override_label: str = Field(default="budget-override", min_length=1, max_length=50)
    github_refresh_seconds: float = Field(default=30.0, ge=0)  # figure-only check updates: at most one a PR per this
    github_timeout_seconds: int = Field(default=10, gt=0)

    @field_validator("github_private_key_path")
    @classmethod
    def _github_key_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    # --- jira ---
    jira_url: str | None = None  # https://your-site.atlassian.net, a Data Center base URL, or a test server
    jira_email: str | None = None  # Cloud: the account's email, used with jira_api_token
    jira_api_token: SecretStr | None = None  # Cloud API token
    jira_personal_access_token: SecretStr | None = None  # Data Center personal access token (API v2, wiki markup)
    jira_webhook_secret: SecretStr | None = None  # the secret set on the Jira webhook (X-Hub-Signature)
    jira_budget_field: str = "Token Budget"
    jira_spend_field: str = "Token Spend"
    jira_spend_usd_field: str | None = None  # e.g. "Token Spend USD"; unset: only tokens are written
    jira_story_points_field: str = "Story Points"
    jira_sprint_field: str = "Sprint"
    jira_spend_interval: int = Field(default=60, ge=0)  # seconds: at most one Token Spend write per story
    jira_over_budget_label: str = "over-token-budget"
    jira_escalation_user: str | None = None  # Cloud accountId (Data Center: username) mentioned when over
    jira_over_budget_transition: str | None = None  # e.g. "Blocked": transition (or target status) name
    jira_reconcile_jql: str | None = None  # default: the configured projects, updated in the last day
    jira_timeout: float = Field(default=10.0, gt=0)  # seconds per HTTP request to Jira

    # --- slack and scrum ---
    slack_token: SecretStr | None = None  # bot token (xoxb-...): chat:write, files:write
    slack_channel: str | None = None  # default channel of the digest and alerts (#name or id)
    slack_api_url: str = "https://slack.com/api/"
    timezone: str = "UTC"  # IANA name; the clock's cron times and the digest's days are in it
    digest_time: str = Field(default="09:00", pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    digest_days: str = DEFAULT_DIGEST_DAYS  # APScheduler day_of_week: mon-fri, mon,wed,fri, ...
    digest_catch_up_hours: float = Field(default=12, ge=0)  # a missed digest is still sent this late, once
    clock_lease_seconds: int = Field(default=90, ge=10)
    anomaly_scan_minutes: int = Field(default=10, ge=1)
    anomaly_rules_off: Annotated[list[str], NoDecode] = []  # spend_spike,run_cost,runaway_run,budget_share,cost_jump
    daily_budget_usd: Decimal | None = Field(default=None, gt=0)  # unset: the active sprint's budgets / its days
    anomaly_spike_factor: Decimal = Field(default=Decimal(2), gt=0)  # x the trailing 7-day average
    anomaly_rolling_pct: Decimal = Field(default=Decimal(150), ge=0)  # % of the rolling average (0: off)
    anomaly_rolling_days: int = Field(default=28, ge=2)
    anomaly_min_daily_usd: Decimal = Field(default=Decimal(1), ge=0)  # smaller days are never a spike
    anomaly_run_usd: Decimal = Field(default=Decimal(10), gt=0)  # one run; see docs/scrum.md for the defaults
    anomaly_error_streak: int = Field(default=3, ge=2)
    anomaly_run_tool_calls: int = Field(default=200, ge=1)
    anomaly_share_pct: Decimal = Field(default=Decimal(50), gt=0)  # of the daily budget, per agent or person
    anomaly_cost_jump_factor: Decimal = Field(default=Decimal(2), gt=1)
    anomaly_cost_jump_min_events: int = Field(default=5, ge=1)

    # --- dashboard ---
    secret_key: SecretStr | None = None  # signs sessions and CSRF tokens; dev/dry-run: generated in instance/
    link_secret_key: SecretStr | None = None  # signs story links (default: secret_key); rotate to revoke them all
    story_link_days: float = Field(default=30, gt=0)  # how long a story link in a PR check, Jira or Slack works
    login_max_failures: int = Field(default=5, ge=1)  # failed logins of one name from one address, then locked
    login_lockout_minutes: int = Field(default=15, ge=1)

    @field_validator("database_url")
    @classmethod
    def _database_driver(cls, value: str) -> str:
        # Heroku-style platforms give postgres://; SQLAlchemy would pick psycopg2, which is not installed.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value

    @field_validator("jira_projects", mode="before")
    @classmethod
    def _split_projects(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip().upper() for p in value.split(",") if p.strip()]
        return value

    @field_validator("anomaly_rules_off", mode="before")
    @classmethod
    def _split_rules(cls, value: object) -> object:
        if isinstance(value, str):
            return [r.strip().lower() for r in value.split(",") if r.strip()]
        return value

    @field_validator("digest_days")
    @classmethod
    def _cron_days(cls, value: str) -> str:
        if value == DEFAULT_DIGEST_DAYS:
            return value  # settings validate their defaults too: this one needs no APScheduler loaded at start-up
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(day_of_week=value)
        except ValueError:
            raise ValueError(f"{value!r} is not a day-of-week list (try mon-fri or mon,wed,fri)") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("prices_file")
    @classmethod
    def _prices_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    # --- OpenTelemetry receiver (bot/integrations/otel, docs/agents.md) ---
    otel_max_body_bytes: int = Field(default=5 * 1024 * 1024, gt=0)  # per export, on the wire AND after gunzip
    otel_retry_after_seconds: int = Field(default=5, ge=1)  # Retry-After of a 503 when the database is busy
    otel_story_attribute: str = Field(default="jira.issue.key", min_length=1)  # resource or record attribute
    otel_branch_attributes: Annotated[list[str], NoDecode] = [
        "vcs.ref.head.name", "vcs.repository.ref.name", "git.branch", "vcs.branch", "branch"]
    otel_team_attributes: Annotated[list[str], NoDecode] = ["team", "team.id", "team.name"]
    otel_cost_center_attributes: Annotated[list[str], NoDecode] = ["cost_center", "cost.center"]
    otel_project_attributes: Annotated[list[str], NoDecode] = ["project", "project.name"]
    # These CLIs report each model call as a log event; their spans would count it a second time.
    otel_skip_span_services: Annotated[list[str], NoDecode] = [
        "claude-code", "codex_exec", "codex_tui", "codex-cli", "codex_cli_rs", "gemini-cli"]

    @field_validator("otel_branch_attributes", "otel_team_attributes", "otel_cost_center_attributes",
                     "otel_project_attributes", "otel_skip_span_services", mode="before")
    @classmethod
    def _split_otel_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """A warning per BUDGETBOT_* variable that is no setting (a typo changes nothing silently otherwise)."""
    known = {f"BUDGETBOT_{name.upper()}" for name in Settings.model_fields}
    warnings = []
    for name in sorted(environ if environ is not None else os.environ):
        if name.startswith("BUDGETBOT_") and name not in known and name not in NOT_SETTINGS:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else " (see README, Configuration)"
            warnings.append(f"{name} is not a budgetbot setting and is ignored{hint}")
    return warnings


def load_settings(overrides: dict | None = None) -> Settings:
    """Read settings from the environment (and `overrides`), naming the bad variable on error."""
    if overrides is None:
        for warning in unknown_variables():
            log.warning("%s", warning)
    # Tests pass overrides and read no .env; BUDGETBOT_ENV_FILE names another file ("" reads none).
    env_file = None if overrides is not None else os.environ.get("BUDGETBOT_ENV_FILE", ".env") or None
    try:
        return Settings(_env_file=env_file, **(overrides or {}))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            problems.append(f"BUDGETBOT_{field.upper()}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
