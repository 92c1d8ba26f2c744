"""Outbox: lease owner, sender result, finished time, one pending row per coalesce key, due-row index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:25:07.499215
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('result', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('finished_at', bot.db.UTCDateTime(timezone=True), nullable=True))
    # Rows written before this revision: finished ones get a finish time (so `outbox purge` can age them),
    # and twin pending rows of one key (possible under the old enqueue) keep only the newest.
    op.execute("UPDATE outbox SET finished_at = updated_at WHERE state IN ('done', 'dead')")
    op.execute("UPDATE outbox SET state = 'done', finished_at = updated_at, "
               "last_error = 'superseded by a newer pending row with the same coalesce key' "
               "WHERE state = 'pending' AND coalesce_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox AS newer "
               "WHERE newer.coalesce_key = outbox.coalesce_key AND newer.state = 'pending' AND newer.id > outbox.id)")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('uq_outbox_pending_coalesce_key', ['coalesce_key'], unique=True, postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.create_index('ix_outbox_pending_due', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending_due', postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.drop_index('uq_outbox_pending_coalesce_key', postgresql_where=sa.text("state = 'pending'"), sqlite_where=sa.text("state = 'pending'"))
        batch_op.drop_column('finished_at')
        batch_op.drop_column('result')
        batch_op.drop_column('lease_owner')
