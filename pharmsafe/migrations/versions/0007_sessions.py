"""server-side sign-in sessions and sign-in locks

Revision ID: 0007
Revises: 0006

web_sessions: a web sign-in is a row; the cookie names it by a random id of which only the SHA-256
is kept. Sign-out, deactivation and a password change end it at once.

sign_in_counters replaces login_failures: one row per counted key (an account, a client address, a
device cookie), locked while a sign-in decides, so that the limits hold under concurrent guesses;
it also carries a lock an admin can see and lift, and the count of throttled attempts kept out of
the audit trail. Failures counted in login_failures are not carried over: an upgrade starts every
count afresh.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=32), nullable=True),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=255), nullable=False),
        sa.Column('reveal_subject', sa.String(length=64), nullable=True),
        sa.Column('reveal_secret', sa.String(length=255), nullable=True),
        sa.Column('reveal_until', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash')),
    )
    with op.batch_alter_table('web_sessions') as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.create_table(
        'sign_in_counters',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=320), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('throttled', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_in_counters_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_counters')),
        sa.UniqueConstraint('scope', 'key', name='uq_sign_in_counters_scope_key'),
    )
    with op.batch_alter_table('sign_in_counters') as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_counters_locked_until'), ['locked_until'], unique=False)

    op.drop_table('login_failures')


def downgrade() -> None:
    op.create_table(
        'login_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    )
    with op.batch_alter_table('login_failures') as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failures_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_failures_client_address'), ['client_address'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_failures_failed_at'), ['failed_at'], unique=False)
    op.drop_table('sign_in_counters')
    op.drop_table('web_sessions')
