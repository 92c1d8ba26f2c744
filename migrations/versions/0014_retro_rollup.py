"""The retro's rollup (retro_usage_days): the ledger summed per team day, story, agent, model family, provider,
team and cost center, kept at ingest, so the retro no longer aggregates the raw ledger. Filled from the ledger here.

Revision ID: 0014_retro_rollup
Revises: 0013_drop_guardrail_spend
Create Date: 2026-12-02 00:55:00
"""
import os

from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0014_retro_rollup'
down_revision = '0013_drop_guardrail_spend'
branch_labels = None
depends_on = None

_SUMS = ('events', 'unpriced_events', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens',
         'nano_usd', 'error_events', 'error_unpriced_events', 'error_tokens', 'error_nano_usd')


def upgrade() -> None:
    op.create_table(
        'retro_usage_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('cell', sa.String(length=32), nullable=False),
        sa.Column('story_key', sa.String(length=64), nullable=False),
        sa.Column('agent', sa.String(length=200), nullable=False),
        sa.Column('model', sa.String(length=200), nullable=False),
        sa.Column('provider', sa.String(length=100), nullable=False),
        sa.Column('team', sa.String(length=256), nullable=False),
        sa.Column('cost_center', sa.String(length=256), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint('day', 'cell', name=op.f('pk_retro_usage_days')),
    )
    op.create_index('ix_retro_usage_days_story_day', 'retro_usage_days', ['story_key', 'day'])
    # The events already in the ledger, bucketed by the team's days (BUDGETBOT_TIMEZONE, from the environment
    # or .env as every command reads it) as ingest buckets the new ones. `budgetbot rebuild` recomputes it too.
    from bot.reports.retro.rollup import rebuild

    try:
        from bot.config import load_settings

        zone = load_settings().timezone
    except Exception:  # settings that do not load stop the app, not the schema upgrade
        zone = os.environ.get('BUDGETBOT_TIMEZONE') or 'UTC'
    session = Session(bind=op.get_bind())
    rebuild(session, zone)
    session.flush()


def downgrade() -> None:
    op.drop_index('ix_retro_usage_days_story_day', table_name='retro_usage_days')
    op.drop_table('retro_usage_days')
