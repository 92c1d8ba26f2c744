"""Preflight's day and month caps read the ledger's (team day, agent) rollup: guardrail_spend, a second copy
of the same sums kept by a listener (and not corrected by voids), is dropped.

Revision ID: 0013_drop_guardrail_spend
Revises: 0012_breaker_dedupe
Create Date: 2026-12-01 23:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_drop_guardrail_spend'
down_revision = '0012_breaker_dedupe'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('guardrail_spend')


def downgrade() -> None:
    # Recreated empty: a downgraded build rebuilds it with bot.guardrails.spend.rebuild.
    op.create_table('guardrail_spend',
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('agent', sa.String(length=200), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('nano_usd', sa.BigInteger(), nullable=False),
    sa.Column('calls', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'agent', name=op.f('pk_guardrail_spend'))
    )
