"""one head: core, outbox, github, jira and scrum branches

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-11-27 03:30:24.117381
"""


revision = "0006"
down_revision = ('0002', '0003', '0004', '0005')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
