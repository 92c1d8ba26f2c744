"""Breakers: one active breaker per scope and target (a partial unique index), duplicates of older versions cleared.

Revision ID: 0012_breaker_dedupe
Revises: 0011_outbox_limits
Create Date: 2026-12-02 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_breaker_dedupe'
down_revision = '0011_outbox_limits'
branch_labels = None
depends_on = None

ACTIVE = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    # Two trips at once could leave two active breakers on one target: the first tripped stays, the others are
    # cleared (kept as history, marked), so the index below can be built.
    op.execute(sa.text(
        "UPDATE breakers SET cleared_at = CURRENT_TIMESTAMP, cleared_by = 'budgetbot (duplicate)' "
        "WHERE cleared_at IS NULL AND EXISTS (SELECT 1 FROM breakers AS first WHERE first.cleared_at IS NULL "
        "AND first.scope = breakers.scope AND first.target = breakers.target AND first.id < breakers.id)"))
    with op.batch_alter_table('breakers', schema=None) as batch_op:
        batch_op.create_index('uq_breakers_active_scope_target', ['scope', 'target'], unique=True,
                              postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade() -> None:
    # The duplicates cleared on the way up stay cleared: which of them was "the" breaker is not recorded.
    with op.batch_alter_table('breakers', schema=None) as batch_op:
        batch_op.drop_index('uq_breakers_active_scope_target', postgresql_where=ACTIVE, sqlite_where=ACTIVE)
