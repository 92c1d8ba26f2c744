"""Alembic migrations produce exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.all_tables import metadata
from bot.db import make_engine
from bot.migrate import downgrade, upgrade


@pytest.fixture
def fresh_url(tmp_path, pg_url) -> str:
    if not pg_url:
        return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    pg = pg_url
    engine = make_engine(pg)
    with engine.begin() as connection:  # migrate into a schema of its own, beside the test tables
        connection.execute(text("DROP SCHEMA IF EXISTS migration_check CASCADE"))
        connection.execute(text("CREATE SCHEMA migration_check"))
    engine.dispose()
    separator = "&" if "?" in pg else "?"
    return f"{pg}{separator}options=-csearch_path%3Dmigration_check"


def test_migrations_match_the_models(fresh_url):
    url = fresh_url
    upgrade(url)

    engine = make_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()

    assert differences == []


def test_migrations_downgrade_to_nothing_and_back(fresh_url):
    url = fresh_url
    upgrade(url)
    downgrade(url, "base")

    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(url)


def test_duplicate_active_breakers_left_by_older_versions_become_one(fresh_url):
    url = fresh_url
    upgrade(url, "0011_outbox_limits")
    engine = make_engine(url)
    rows = [("story", "PROJ-1", "first", "2026-11-01 10:00:00"), ("story", "PROJ-1", "again", "2026-11-02 10:00:00"),
            ("agent", "coder", "other", "2026-11-03 10:00:00")]
    with engine.begin() as connection:
        for scope, target, reason, at in rows:
            connection.execute(text("INSERT INTO breakers (scope, target, reason, tripped_at) "
                                    "VALUES (:scope, :target, :reason, :at)"),
                               {"scope": scope, "target": target, "reason": reason, "at": at})
    engine.dispose()

    upgrade(url)

    engine = make_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text(
            "SELECT reason, cleared_at IS NULL, cleared_by FROM breakers ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in found] == [("first", True, None), ("again", False, "budgetbot (duplicate)"),
                                             ("other", True, None)]
