"""Outbox: rate-limit answers counted apart from failures, and limits wider than one row kept in the database.

Revision ID: 0011_outbox_limits
Revises: 0010_verdict
Create Date: 2026-12-01 21:00:00
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0011_outbox_limits'
down_revision = '0010_verdict'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_limited', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.create_table(
        'outbox_limits',
        sa.Column('scope', sa.String(length=150), nullable=False),
        sa.Column('until', bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('scope', name=op.f('pk_outbox_limits')),
    )


def downgrade() -> None:
    op.drop_table('outbox_limits')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('rate_limited')
