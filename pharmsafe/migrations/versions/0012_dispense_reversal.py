"""dispense reversal: a dispense entered by mistake, reversed the same day, stops counting

Revision ID: 0012
Revises: 0011

dispenses.reversed_at, reversed_by, reversal_reason. The unique prescription_id becomes "one
dispense in effect per prescription" (a partial unique index over the rows not reversed), so that a
reversed prescription can be evaluated and dispensed again; the RMA number stays unique (used).
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dispenses') as batch_op:
        batch_op.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reversed_by', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('reversal_reason', sa.String(length=500), nullable=True))
        batch_op.drop_constraint('uq_dispenses_prescription_id', type_='unique')
        batch_op.create_index('uq_dispenses_one_in_effect', ['prescription_id'], unique=True,
                              sqlite_where=sa.text('reversed_at IS NULL'),
                              postgresql_where=sa.text('reversed_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('dispenses') as batch_op:
        batch_op.drop_index('uq_dispenses_one_in_effect')
        batch_op.create_unique_constraint('uq_dispenses_prescription_id', ['prescription_id'])
        batch_op.drop_column('reversal_reason')
        batch_op.drop_column('reversed_by')
        batch_op.drop_column('reversed_at')
