"""Guardrails: reservations, blocked calls, spend per local day/month, story labels; who cleared a breaker; usage_events.reservation_id.

Revision ID: 0009_guardrails
Revises: 0008_dashboard
Create Date: 2026-12-01 20:27:13.505067
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0009_guardrails'
down_revision = '0008_dashboard'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guardrail_blocks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=200), nullable=True),
    sa.Column('run_id', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('asked_by', sa.String(length=100), nullable=True),
    sa.Column('codes', sa.String(length=300), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardrail_blocks'))
    )
    with op.batch_alter_table('guardrail_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardrail_blocks_at'), ['at'], unique=False)
        batch_op.create_index('ix_guardrail_blocks_story_at', ['story_key', 'at'], unique=False)

    op.create_table('guardrail_reservations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=200), nullable=True),
    sa.Column('run_id', sa.String(length=200), nullable=True),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardrail_reservations'))
    )
    with op.batch_alter_table('guardrail_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardrail_reservations_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardrail_reservations_story_key'), ['story_key'], unique=False)

    op.create_table('guardrail_spend',
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('agent', sa.String(length=200), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('calls', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'agent', name=op.f('pk_guardrail_spend'))
    )
    op.create_table('guardrail_story_labels',
    sa.Column('story_key', sa.String(length=64), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('story_key', name=op.f('pk_guardrail_story_labels'))
    )
    with op.batch_alter_table('breakers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cleared_by', sa.String(length=200), nullable=True))

    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reservation_id', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('usage_events', schema=None) as batch_op:
        batch_op.drop_column('reservation_id')

    with op.batch_alter_table('breakers', schema=None) as batch_op:
        batch_op.drop_column('cleared_by')

    op.drop_table('guardrail_story_labels')
    op.drop_table('guardrail_spend')
    with op.batch_alter_table('guardrail_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardrail_reservations_story_key'))
        batch_op.drop_index(batch_op.f('ix_guardrail_reservations_expires_at'))

    op.drop_table('guardrail_reservations')
    with op.batch_alter_table('guardrail_blocks', schema=None) as batch_op:
        batch_op.drop_index('ix_guardrail_blocks_story_at')
        batch_op.drop_index(batch_op.f('ix_guardrail_blocks_at'))

    op.drop_table('guardrail_blocks')
