"""Test fixtures: an app on a fresh SQLite file, or on PostgreSQL when BUDGETBOT_TEST_DATABASE_URL is set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pg_database import own_database
from sqlalchemy import text

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db, make_engine

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The URL names a PostgreSQL server and a database to connect to first; the suite never touches that
# database: each run (each xdist worker) creates one of its own and drops it at the end.
PG_SERVER_URL = os.environ.get("BUDGETBOT_TEST_DATABASE_URL")


def load_fixture(relative: str) -> dict:
    """A recorded payload from tests/fixtures (github/..., jira/...): copies kept in the repo, see its README."""
    return json.loads((FIXTURES / relative).read_text())


@pytest.fixture(scope="session")
def pg_url():
    """A PostgreSQL database created for this test run (None on SQLite); dropped when the run ends."""
    if not PG_SERVER_URL:
        yield None
        return
    with own_database(PG_SERVER_URL) as url:
        yield url


def stamp_heads(engine) -> None:
    """Record the migration heads in a schema made by create_all, as `db upgrade` would (the CLI checks them)."""
    from bot.migrate import code_heads

    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS alembic_version "
                                "(version_num VARCHAR(64) NOT NULL PRIMARY KEY)"))
        connection.execute(text("DELETE FROM alembic_version"))
        for head in sorted(_HEADS or _HEADS.extend(sorted(code_heads())) or _HEADS):
            connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})


_HEADS: list[str] = []


@pytest.fixture(scope="session")
def _pg_schema(pg_url):
    if pg_url is None:
        yield None
        return
    engine = make_engine(pg_url)
    metadata.create_all(engine)
    stamp_heads(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_url(tmp_path, _pg_schema) -> str:
    if _pg_schema is None:
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        stamp_heads(engine)
        engine.dispose()
        return url
    with _pg_schema.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return _pg_schema.url.render_as_string(hide_password=False)


@pytest.fixture
def settings_overrides(db_url) -> dict:
    """Override in a test module to change settings; always points at the test database."""
    return {"database_url": db_url}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Settings in the developer's shell must not leak into tests."""
    for name in list(os.environ):
        if name.startswith("BUDGETBOT_") and name != "BUDGETBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("BUDGETBOT_ENV_FILE", "")  # nor may a .env file in the folder the tests run from


@pytest.fixture
def app(settings_overrides):
    application = create_app(settings_overrides)
    application.config["TESTING"] = True
    yield application
    get_db(application).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    return get_db(app)


@pytest.fixture
def auth(db) -> dict:
    """Headers carrying a fresh, valid API token."""
    from bot.web.auth import create_token

    with db.transaction() as session:
        secret = create_token(session, "test-agent")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def cli(db_url, monkeypatch):
    """Run `budgetbot ...` against the test database: cli("status", "PROJ-1") -> click Result."""
    from bot.cli.main import main

    monkeypatch.setenv("BUDGETBOT_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args: str, env: dict | None = None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run
