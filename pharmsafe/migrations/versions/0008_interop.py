"""where records came in, and the senders' identifiers

Revision ID: 0008
Revises: 0007

`source` (web, api, fhir, ncpdp, system) on patients, prescriptions and every kind of evidence:
NULL for the rows kept before, which the pages show as "not recorded" (their audit events do not
say it either). external_identifiers: a FHIR identifier or NCPDP order number under its natural key
(INTEROP.md §6), naming the record it was mapped to. idempotency_records.response_headers: the media
type, Location and ETag a replay repeats.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

WITH_SOURCE = ('patients', 'prescriptions', 'pregnancy_tests', 'lab_results', 'attestations', 'transfers_in')


def upgrade() -> None:
    for table in WITH_SOURCE:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('source', sa.String(length=8), nullable=True))
    with op.batch_alter_table('idempotency_records') as batch_op:
        batch_op.add_column(sa.Column('response_headers', sa.Text(), nullable=True))
    op.create_table(
        'external_identifiers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=32), nullable=False),
        sa.Column('resource_type', sa.String(length=32), nullable=False),
        sa.Column('system', sa.String(length=255), nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('record', sa.String(length=64), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_external_identifiers')),
        sa.UniqueConstraint('scope', 'resource_type', 'system', 'value', name='uq_external_identifiers_key'),
    )
    with op.batch_alter_table('external_identifiers') as batch_op:
        batch_op.create_index(batch_op.f('ix_external_identifiers_record'), ['record'], unique=False)


def downgrade() -> None:
    op.drop_table('external_identifiers')
    with op.batch_alter_table('idempotency_records') as batch_op:
        batch_op.drop_column('response_headers')
    for table in WITH_SOURCE:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('source')
