"""Jira tables: per-issue mirrored budget and last Token Spend written, and the comments budgetbot owns.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27 00:28:45.870500
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jira_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('marker', sa.String(length=100), nullable=False),
    sa.Column('comment_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jira_comments')),
    sa.UniqueConstraint('key', 'marker', name=op.f('uq_jira_comments_key_marker'))
    )
    op.create_table('jira_issues',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('issue_id', sa.String(length=32), nullable=True),
    sa.Column('assignee_id', sa.String(length=200), nullable=True),
    sa.Column('mirrored_budget_tokens', sa.BigInteger(), nullable=True),
    sa.Column('mirrored_budget_nano_usd', sa.BigInteger(), nullable=True),
    sa.Column('spend_written_tokens', sa.BigInteger(), nullable=True),
    sa.Column('spend_written_nano_usd', sa.BigInteger(), nullable=True),
    sa.Column('spend_written_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_jira_issues'))
    )


def downgrade() -> None:
    op.drop_table('jira_issues')
    op.drop_table('jira_comments')
