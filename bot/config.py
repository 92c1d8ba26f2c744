"""Settings: every knob is an environment variable with the BUDGETBOT_ prefix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = f"sqlite:///{Path('instance/budgetbot.sqlite3').resolve()}"


class ConfigError(RuntimeError):
    """A setting is wrong; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BUDGETBOT_", extra="ignore")

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

    # --- circuit breakers (preflight) ---
    run_max_tokens: int | None = Field(default=None, gt=0)
    run_max_usd: Decimal | None = Field(default=None, gt=0)
    run_max_tool_calls: int | None = Field(default=None, gt=0)
    max_consecutive_errors: int = Field(default=3, ge=1)

    # --- outbox ---

    # --- github ---

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

    @field_validator("jira_projects", mode="before")
    @classmethod
    def _split_projects(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip().upper() for p in value.split(",") if p.strip()]
        return value

    @field_validator("prices_file")
    @classmethod
    def _prices_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


def load_settings(overrides: dict | None = None) -> Settings:
    """Read settings from the environment (and `overrides`), naming the bad variable on error."""
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            problems.append(f"BUDGETBOT_{field.upper()}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
