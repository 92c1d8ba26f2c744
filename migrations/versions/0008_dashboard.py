"""Dashboard: users who log in, and failed logins for the throttle.

Revision ID: 0008_dashboard
Revises: 0007_webhooks
Create Date: 2026-12-01 20:40:00
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = "0008_dashboard"
down_revision = "0007_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_users')),
    sa.UniqueConstraint('name', name=op.f('uq_dashboard_users_name'))
    )
    op.create_table('dashboard_login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_login_failures'))
    )
    with op.batch_alter_table('dashboard_login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_dashboard_login_failures_name_ip_at', ['name', 'ip', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dashboard_login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_dashboard_login_failures_name_ip_at')
    op.drop_table('dashboard_login_failures')
    op.drop_table('dashboard_users')
