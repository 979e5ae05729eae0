"""decisions.failing_codes: the failing gates' codes, comma-separated, filled for the decisions
already recorded from their stored gates (what the manager's dashboard counts)

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# The codes of the gates whose status is fail, in the gates' order, for every decision not filled yet.
BACKFILL = {
    "postgresql": """UPDATE decisions SET failing_codes = (
        SELECT string_agg(g.value ->> 'code', ',' ORDER BY g.n)
        FROM json_array_elements(decisions.gates) WITH ORDINALITY AS g(value, n)
        WHERE g.value ->> 'status' = 'fail') WHERE failing_codes IS NULL""",
    "sqlite": """UPDATE decisions SET failing_codes = (
        SELECT group_concat(code, ',') FROM (
            SELECT json_extract(g.value, '$.code') AS code FROM json_each(decisions.gates) AS g
            WHERE json_extract(g.value, '$.status') = 'fail' ORDER BY g.key))
        WHERE failing_codes IS NULL""",
}


def backfill(connection) -> None:
    connection.execute(sa.text(BACKFILL[connection.dialect.name]))


def upgrade() -> None:
    with op.batch_alter_table('decisions') as batch_op:
        batch_op.add_column(sa.Column('failing_codes', sa.Text(), nullable=True))
    backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('decisions') as batch_op:
        batch_op.drop_column('failing_codes')
