"""Every table module imported once, so `metadata` holds the whole schema (for Alembic and the tests)."""

from bot.db import Base
from bot.guardrails import tables as guardrail_tables  # noqa: F401
from bot.integrations import deliveries  # noqa: F401
from bot.integrations.github import tables as github_tables  # noqa: F401
from bot.integrations.jira import tables as jira_tables  # noqa: F401
from bot.integrations.slack import tables as slack_tables  # noqa: F401
from bot.ledger import tables as ledger_tables  # noqa: F401
from bot.outbox import tables as outbox_tables  # noqa: F401
from bot.processes import tables as process_tables  # noqa: F401
from bot.reports.retro import tables as retro_tables  # noqa: F401
from bot.reports.scrum import tables as scrum_tables  # noqa: F401
from bot.web import tables as web_tables  # noqa: F401

metadata = Base.metadata
