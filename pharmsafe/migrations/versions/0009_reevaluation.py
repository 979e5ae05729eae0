"""the evidence that triggered an automatic re-evaluation

Revision ID: 0009
Revises: 0008

decisions.triggered_by: for a decision recorded as system:reevaluation, the evidence whose arrival
re-evaluated the blocked prescription ("pregnancy_test:17"); NULL for every other decision.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('decisions') as batch_op:
        batch_op.add_column(sa.Column('triggered_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('decisions') as batch_op:
        batch_op.drop_column('triggered_by')
