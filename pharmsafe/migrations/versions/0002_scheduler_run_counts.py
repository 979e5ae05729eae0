"""scheduler job run counts

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scheduler_heartbeats') as batch_op:
        batch_op.add_column(sa.Column('runs', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('scheduler_heartbeats') as batch_op:
        batch_op.drop_column('runs')
