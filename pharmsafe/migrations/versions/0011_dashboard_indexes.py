"""the dashboard's ranges: decisions by evaluated_at, dispenses by dispensed_at

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_decisions_evaluated_at'), 'decisions', ['evaluated_at'], unique=False)
    op.create_index(op.f('ix_dispenses_dispensed_at'), 'dispenses', ['dispensed_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dispenses_dispensed_at'), table_name='dispenses')
    op.drop_index(op.f('ix_decisions_evaluated_at'), table_name='decisions')
