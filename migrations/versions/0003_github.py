"""GitHub App: installations, repositories, pull requests and their stories, check runs, approved overruns.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 00:33:08.538231
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('github_check_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repo_id', sa.BigInteger(), nullable=False),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('check_run_id', sa.BigInteger(), nullable=False),
    sa.Column('conclusion', sa.String(length=20), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('posted_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_github_check_runs')),
    sa.UniqueConstraint('repo_id', 'head_sha', name=op.f('uq_github_check_runs_repo_id_head_sha'))
    )
    op.create_table('github_installations',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('account', sa.String(length=200), nullable=False),
    sa.Column('app_id', sa.BigInteger(), nullable=True),
    sa.Column('suspended_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_github_installations'))
    )
    op.create_table('github_pull_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('repo_id', sa.BigInteger(), nullable=False),
    sa.Column('repo_full_name', sa.String(length=300), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.BigInteger(), nullable=True),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('head_ref', sa.String(length=300), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('html_url', sa.String(length=500), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('merged', sa.Boolean(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('story_keys', sa.JSON(), nullable=False),
    sa.Column('github_updated_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_github_pull_requests')),
    sa.UniqueConstraint('repo_id', 'number', name=op.f('uq_github_pull_requests_repo_id_number'))
    )
    with op.batch_alter_table('github_pull_requests', schema=None) as batch_op:
        batch_op.create_index('ix_github_pull_requests_repo_head', ['repo_id', 'head_sha'], unique=False)

    op.create_table('github_repositories',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('full_name', sa.String(length=300), nullable=False),
    sa.Column('installation_id', sa.BigInteger(), nullable=True),
    sa.Column('removed_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_github_repositories'))
    )
    with op.batch_alter_table('github_repositories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_github_repositories_full_name'), ['full_name'], unique=False)

    op.create_table('github_overrides',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pull_request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=False),
    sa.Column('approved_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('head_sha', sa.String(length=64), nullable=False),
    sa.Column('stories', sa.JSON(), nullable=False),
    sa.Column('delivery_id', sa.String(length=200), nullable=True),
    sa.Column('revoked_by', sa.String(length=200), nullable=True),
    sa.Column('revoked_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pull_request_id'], ['github_pull_requests.id'], name=op.f('fk_github_overrides_pull_request_id_github_pull_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_github_overrides'))
    )
    with op.batch_alter_table('github_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_github_overrides_pull_request_id'), ['pull_request_id'], unique=False)

    op.create_table('github_pull_request_stories',
    sa.Column('pull_request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('story_key', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['pull_request_id'], ['github_pull_requests.id'], name=op.f('fk_github_pull_request_stories_pull_request_id_github_pull_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pull_request_id', 'story_key', name=op.f('pk_github_pull_request_stories'))
    )
    with op.batch_alter_table('github_pull_request_stories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_github_pull_request_stories_story_key'), ['story_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('github_pull_request_stories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_github_pull_request_stories_story_key'))

    op.drop_table('github_pull_request_stories')
    with op.batch_alter_table('github_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_github_overrides_pull_request_id'))

    op.drop_table('github_overrides')
    with op.batch_alter_table('github_repositories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_github_repositories_full_name'))

    op.drop_table('github_repositories')
    with op.batch_alter_table('github_pull_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_github_pull_requests_repo_head')

    op.drop_table('github_pull_requests')
    op.drop_table('github_installations')
    op.drop_table('github_check_runs')
