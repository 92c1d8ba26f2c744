"""webhooks: order approvals by GitHub's time; Jira names as long as Jira allows; stored Jira field list

Revision ID: 0007_webhooks
Revises: 0006
Create Date: 2026-12-01 21:00:00
"""

from alembic import op
import sqlalchemy as sa
import bot.db


revision = "0007_webhooks"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jira_field_lists',
    sa.Column('site', sa.String(length=500), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('fetched_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('site', name=op.f('pk_jira_field_lists'))
    )
    with op.batch_alter_table('github_pull_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_changed_at', bot.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('stories', schema=None) as batch_op:
        batch_op.alter_column('assignee', existing_type=sa.String(length=200), type_=sa.String(length=255),
                              existing_nullable=True)
        batch_op.alter_column('jira_status', existing_type=sa.String(length=100), type_=sa.String(length=255),
                              existing_nullable=True)
    with op.batch_alter_table('jira_issues', schema=None) as batch_op:
        batch_op.alter_column('assignee_id', existing_type=sa.String(length=200), type_=sa.String(length=255),
                              existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('jira_issues', schema=None) as batch_op:
        batch_op.alter_column('assignee_id', existing_type=sa.String(length=255), type_=sa.String(length=200),
                              existing_nullable=True)
    with op.batch_alter_table('stories', schema=None) as batch_op:
        batch_op.alter_column('jira_status', existing_type=sa.String(length=255), type_=sa.String(length=100),
                              existing_nullable=True)
        batch_op.alter_column('assignee', existing_type=sa.String(length=255), type_=sa.String(length=200),
                              existing_nullable=True)
    with op.batch_alter_table('github_pull_requests', schema=None) as batch_op:
        batch_op.drop_column('approval_changed_at')
    op.drop_table('jira_field_lists')
