"""an RMA prepared for the pharmacist: the number and its date, filled into the Dispense form

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('authorizations') as batch_op:
        batch_op.add_column(sa.Column('prepared_rma_number', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('prepared_rma_do_not_dispense_after', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('prepared_by', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('prepared_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('authorizations') as batch_op:
        for column in ('prepared_at', 'prepared_by', 'prepared_rma_do_not_dispense_after', 'prepared_rma_number'):
            batch_op.drop_column(column)
