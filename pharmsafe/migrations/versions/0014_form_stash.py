"""what a person typed into a form their session timed out under, kept for their next sign-in

Revision ID: 0014
Revises: 0013

web_sessions.stash_path, stash_form (the form's fields as JSON, never a password), stash_until: a
form posted after the session timed out is kept on the timed-out session's row for 30 minutes; the
same person signing in again in that browser finds it filled in on the page it came from.
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_sessions') as batch_op:
        batch_op.add_column(sa.Column('stash_path', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('stash_form', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('stash_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('web_sessions') as batch_op:
        batch_op.drop_column('stash_until')
        batch_op.drop_column('stash_form')
        batch_op.drop_column('stash_path')
