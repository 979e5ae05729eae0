"""a dispense undone under an RMA: the pharmacist's note that they reversed the RMA with the REMS

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispenses') as batch_op:
        batch_op.add_column(sa.Column('rma_reversal_noted', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dispenses') as batch_op:
        batch_op.drop_column('rma_reversal_noted')
