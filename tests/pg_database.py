"""A throwaway PostgreSQL database per test run, so two runs on one server never touch each other's data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def own_database(server_url: str) -> Iterator[str]:
    """Create a uniquely named database on the server `server_url` points at, yield its URL, drop it after.

    Only the database created here is ever dropped; the one named in `server_url` is just where we connect
    to issue CREATE DATABASE."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"budgetbot_test_{worker}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
