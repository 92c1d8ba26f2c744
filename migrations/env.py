"""Alembic environment: batch mode so SQLite can alter tables; the URL comes from budgetbot's settings."""

from alembic import context

from bot.db import make_engine
from bot.all_tables import metadata

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `budgetbot db upgrade`")
run_migrations_online()
