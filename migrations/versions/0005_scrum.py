"""Scrum and Slack tables: daily rollups per story/agent/model and per agent, run totals, alerts, the clock lease and run log, Slack messages.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-27 00:39:28.220551
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scrum_agent_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('agent', sa.String(length=200), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'agent', name=op.f('pk_scrum_agent_days'))
    )
    op.create_table('scrum_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scrum_alerts')),
    sa.UniqueConstraint('rule', 'subject', 'day', name=op.f('uq_scrum_alerts_rule_subject_day'))
    )
    with op.batch_alter_table('scrum_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrum_alerts_created_at'), ['created_at'], unique=False)

    op.create_table('scrum_clock_lock',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('lease_until', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scrum_clock_lock'))
    )
    op.create_table('scrum_clock_runs',
    sa.Column('job', sa.String(length=100), nullable=False),
    sa.Column('last_fire_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_finished_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('job', name=op.f('pk_scrum_clock_runs'))
    )
    op.create_table('scrum_runs',
    sa.Column('run_id', sa.String(length=200), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('first_event_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_event_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('tool_calls', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.BigInteger(), nullable=False),
    sa.Column('errors_since_ok', sa.Integer(), nullable=False),
    sa.Column('max_error_streak', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_scrum_runs'))
    )
    with op.batch_alter_table('scrum_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrum_runs_last_event_at'), ['last_event_at'], unique=False)

    op.create_table('scrum_usage_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=False),
    sa.Column('agent', sa.String(length=200), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.BigInteger(), nullable=False),
    sa.Column('tool_calls', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'story_key', 'agent', 'model', name=op.f('pk_scrum_usage_days'))
    )
    with op.batch_alter_table('scrum_usage_days', schema=None) as batch_op:
        batch_op.create_index('ix_scrum_usage_days_story_day', ['story_key', 'day'], unique=False)

    op.create_table('slack_messages',
    sa.Column('update_key', sa.String(length=300), nullable=False),
    sa.Column('channel_id', sa.String(length=50), nullable=False),
    sa.Column('ts', sa.String(length=50), nullable=False),
    sa.Column('file_id', sa.String(length=50), nullable=True),
    sa.Column('image_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('update_key', name=op.f('pk_slack_messages'))
    )


def downgrade() -> None:
    op.drop_table('slack_messages')
    with op.batch_alter_table('scrum_usage_days', schema=None) as batch_op:
        batch_op.drop_index('ix_scrum_usage_days_story_day')

    op.drop_table('scrum_usage_days')
    with op.batch_alter_table('scrum_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrum_runs_last_event_at'))

    op.drop_table('scrum_runs')
    op.drop_table('scrum_clock_runs')
    op.drop_table('scrum_clock_lock')
    with op.batch_alter_table('scrum_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrum_alerts_created_at'))

    op.drop_table('scrum_alerts')
    op.drop_table('scrum_agent_days')
