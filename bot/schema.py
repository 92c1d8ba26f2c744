"""Imports every model module so `Base.metadata` holds the whole schema (for Alembic and tests)."""

from bot import models  # noqa: F401
from bot.db import Base
from bot.github import models as github_models  # noqa: F401
from bot.jira import models as jira_models  # noqa: F401
from bot.scrum import models as scrum_models  # noqa: F401
from bot.slack import models as slack_models  # noqa: F401

metadata = Base.metadata
