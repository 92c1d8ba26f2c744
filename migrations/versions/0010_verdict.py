"""verdict: model families on the ledger, voided events, approved overruns as a core fact

Revision ID: 0010_verdict
Revises: 0009_guardrails
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = "0010_verdict"
down_revision = "0009_guardrails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_family", sa.String(length=200), nullable=True))
    # Existing rows: the lower-cased id (groups case variants; dated ids of older rows stay their own family).
    op.execute("UPDATE usage_events SET model_family = lower(model)")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("overrun_approved", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table("usage_voids",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("event_id", sa.String(length=200), nullable=False),
    sa.Column("voided_by", sa.String(length=200), nullable=False),
    sa.Column("voided_at", bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_voids")),
    sa.UniqueConstraint("event_id", name=op.f("uq_usage_voids_event_id"))
    )
    op.create_table("story_approvals",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("story_key", sa.String(length=64), nullable=False),
    sa.Column("approved_by", sa.String(length=200), nullable=False),
    sa.Column("approved_at", bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("source", sa.String(length=40), nullable=False),
    sa.Column("reference", sa.String(length=200), nullable=True),
    sa.Column("revoked_by", sa.String(length=200), nullable=True),
    sa.Column("revoked_at", bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column("revoke_reason", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_story_approvals"))
    )
    with op.batch_alter_table("story_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_approvals_story_key"), ["story_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("story_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_approvals_story_key"))
    op.drop_table("story_approvals")
    op.drop_table("usage_voids")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_column("overrun_approved")
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_column("model_family")
