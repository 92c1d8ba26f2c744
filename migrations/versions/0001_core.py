"""Core tables: usage ledger, stories, daily rollups, sprints, kill switches, API tokens, webhook deliveries, outbox.

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 00:26:12.191102
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('secret_sha256', name=op.f('uq_api_tokens_secret_sha256'))
    )
    op.create_table('breakers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('tripped_by', sa.String(length=200), nullable=True),
    sa.Column('tripped_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breakers'))
    )
    with op.batch_alter_table('breakers', schema=None) as batch_op:
        batch_op.create_index('ix_breakers_scope_target', ['scope', 'target'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('delivery_id', sa.String(length=200), nullable=False),
    sa.Column('event', sa.String(length=100), nullable=True),
    sa.Column('received_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('source', 'delivery_id', name=op.f('uq_deliveries_source_delivery_id'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('coalesce_key', sa.String(length=300), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('dry_run_request', sa.JSON(), nullable=True),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_coalesce_key_state', ['coalesce_key', 'state'], unique=False)
        batch_op.create_index('ix_outbox_state_next_attempt', ['state', 'next_attempt_at'], unique=False)

    op.create_table('sprints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=True),
    sa.Column('start_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('jira_sprint_id', sa.BigInteger(), nullable=True),
    sa.Column('board_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sprints')),
    sa.UniqueConstraint('jira_sprint_id', name=op.f('uq_sprints_jira_sprint_id')),
    sa.UniqueConstraint('name', name=op.f('uq_sprints_name'))
    )
    op.create_table('stories',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('project', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('assignee', sa.String(length=200), nullable=True),
    sa.Column('sprint', sa.String(length=200), nullable=True),
    sa.Column('jira_status', sa.String(length=100), nullable=True),
    sa.Column('story_points', sa.Double(), nullable=True),
    sa.Column('resolved_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('budget_tokens', sa.BigInteger(), nullable=True),
    sa.Column('budget_nano_usd', sa.BigInteger(), nullable=True),
    sa.Column('spent_tokens', sa.BigInteger(), nullable=False),
    sa.Column('spent_nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('unpriced_events', sa.BigInteger(), nullable=False),
    sa.Column('first_event_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_event_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_stories'))
    )
    with op.batch_alter_table('stories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stories_project'), ['project'], unique=False)

    op.create_table('story_days',
    sa.Column('story_key', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('unpriced_events', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('story_key', 'day', name=op.f('pk_story_days'))
    )
    with op.batch_alter_table('story_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_story_days_day'), ['day'], unique=False)

    op.create_table('usage_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('agent', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=100), nullable=True),
    sa.Column('run_id', sa.String(length=200), nullable=True),
    sa.Column('input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cache_read_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cache_write_tokens', sa.BigInteger(), nullable=False),
    sa.Column('reasoning_tokens', sa.BigInteger(), nullable=False),
    sa.Column('tool_calls', sa.Integer(), nullable=False),
    sa.Column('cost_nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('priced', sa.Boolean(), nullable=False),
    sa.Column('price_source', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('latency_ms', sa.Integer(), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_usage_events_event_id'))
    )
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_usage_events_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ix_usage_events_story_occurred', ['story_key', 'occurred_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_events_story_occurred')
        batch_op.drop_index(batch_op.f('ix_usage_events_run_id'))
        batch_op.drop_index(batch_op.f('ix_usage_events_occurred_at'))

    op.drop_table('usage_events')
    with op.batch_alter_table('story_days', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_story_days_day'))

    op.drop_table('story_days')
    with op.batch_alter_table('stories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stories_project'))

    op.drop_table('stories')
    op.drop_table('sprints')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_state_next_attempt')
        batch_op.drop_index('ix_outbox_coalesce_key_state')

    op.drop_table('outbox')
    op.drop_table('deliveries')
    with op.batch_alter_table('breakers', schema=None) as batch_op:
        batch_op.drop_index('ix_breakers_scope_target')

    op.drop_table('breakers')
    op.drop_table('api_tokens')
