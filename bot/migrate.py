"""Alembic, driven from the CLI: `budgetbot db upgrade` runs the migrations in ./migrations; `schema_problem` tells
every other command, before it touches anything, that the database is missing, unreachable or behind."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Any

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
UPGRADE = "run `budgetbot db upgrade`"
_ASSIGNED = re.compile(r"^(revision|down_revision)\s*(?::[^=]+)?=\s*(.+)$", re.MULTILINE)


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    from bot.db import sqlite_path

    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)  # the one place a new database is made
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> None:
    from alembic import command

    command.current(alembic_config(database_url), verbose=False)


def code_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def schema_problem(engine) -> str | None:
    """One line saying what is wrong with the database and what to do, or None when it is ready."""
    # Alembic logs its plugins and context at INFO: noise on every command that only checks the revision.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        return _schema_problem(engine)
    finally:
        alembic_log.setLevel(level)


def declared_heads() -> set[str]:
    """The head revisions of ./migrations, read from each file's `revision = …` and `down_revision = …` lines
    without loading Alembic, which costs every command a third of a second. Only a match is trusted: any
    difference is checked again by Alembic itself (`code_heads`), and a test keeps the two equal."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_ASSIGNED.findall(path.read_text()))
        try:
            revision, down = ast.literal_eval(found["revision"]), ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            continue  # not a migration this reader understands: Alembic decides (see _schema_problem)
        revisions.add(revision)
        parents.update(down if isinstance(down, (tuple, list)) else [down] if down else [])
    return revisions - parents


def _current_revisions(connection) -> set[str]:
    """What `alembic_version` says the database is at (empty when the table is missing), as Alembic reads it."""
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table("alembic_version"):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _schema_problem(engine) -> str | None:
    from sqlalchemy import exc, inspect

    from bot.db import sqlite_path

    url = engine.url.render_as_string(hide_password=True)
    path = sqlite_path(str(engine.url))
    if path is not None and not path.is_file():
        return f"no database at {path}: {UPGRADE} to create it, or set BUDGETBOT_DATABASE_URL"
    try:
        # A read: on SQLite it must not wait for (or take) the write lock the worker may hold.
        with engine.connect().execution_options(budgetbot_read_only=True) as connection:
            current = _current_revisions(connection)
            if not current:
                if inspect(connection).has_table("stories"):
                    return f"the database at {url} has tables but no migration record: {UPGRADE}"
                return f"the database at {url} is empty: {UPGRADE}"
    except exc.OperationalError as error:
        return f"cannot open the database at {url}: {first_line(error)}"
    except exc.SQLAlchemyError as error:
        return f"cannot use the database at {url}: {first_line(error)}"
    if current == declared_heads():
        return None
    heads = code_heads()
    if current != heads:
        unknown = current - heads
        if unknown and not _known(unknown):
            return (f"the database at {url} is at revision {', '.join(sorted(current))}, which this budgetbot "
                    f"does not know (it needs {', '.join(sorted(heads))}): upgrade budgetbot")
        return (f"the database at {url} is at revision {', '.join(sorted(current))}, behind "
                f"{', '.join(sorted(heads))}: {UPGRADE}")
    return None


def _known(revisions: set[str]) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        return all(script.get_revision(rev) is not None for rev in revisions)
    except (RevisionError, CommandError):
        return False


def first_line(error: Exception) -> str:
    """The driver's message, without SQLAlchemy's SQL and help link (and never the password)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
