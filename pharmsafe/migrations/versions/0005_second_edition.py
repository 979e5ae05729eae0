"""the rulebook's second edition: patient status, clearance notes, transfers-in, the policy's
effective date on decisions, RMA numbers normalised

Revision ID: 0005
Revises: 0004
"""
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def normalise_rma(number):
    """As the service does at its boundary (rulebook §2 "RMA"): NFKC, surrounding white space of any
    kind removed, upper-cased. Kept here so that the migration never changes with the application."""
    if number is None:
        return None
    return unicodedata.normalize("NFKC", number).strip().upper() or None


class RmaCollision(RuntimeError):
    pass


def _normalise_existing_rma_numbers(conn) -> None:
    rows = conn.execute(sa.text("SELECT id, rma_number FROM dispenses WHERE rma_number IS NOT NULL "
                                "ORDER BY id")).all()
    seen: dict[str, int] = {}
    changed = []
    for dispense_id, number in rows:
        normal = normalise_rma(number)
        if normal in seen:
            raise RmaCollision(
                f"Dispenses {seen[normal]} and {dispense_id} carry the same RMA number once normalised "
                f"({normal!r}); resolve it by hand before upgrading (the migration never merges them).")
        seen[normal] = dispense_id
        if normal != number:
            changed.append((dispense_id, normal))
    # Two steps, so that a normalised number never meets the unique index while another row still
    # holds it in its old form.
    for dispense_id, _ in changed:
        conn.execute(sa.text("UPDATE dispenses SET rma_number = :tmp WHERE id = :id"),
                     {"tmp": f"\x01migrating-{dispense_id}", "id": dispense_id})
    for dispense_id, normal in changed:
        conn.execute(sa.text("UPDATE dispenses SET rma_number = :n WHERE id = :id"), {"n": normal, "id": dispense_id})


def upgrade() -> None:
    with op.batch_alter_table('patients') as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='active', nullable=False))
    with op.batch_alter_table('attestations') as batch_op:
        batch_op.alter_column('kind', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('note', sa.String(length=500), nullable=True))
    with op.batch_alter_table('decisions') as batch_op:
        batch_op.add_column(sa.Column('policy_effective_from', sa.Date(), nullable=True))
    with op.batch_alter_table('lab_results') as batch_op:
        # Plain notation of 20 significant digits at exponent -20 takes 41 characters.
        for column in ('value', 'reference_upper'):
            batch_op.alter_column(column, existing_type=sa.String(length=40), type_=sa.String(length=64))
    op.create_table(
        'transfers_in',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by', sa.String(length=40), nullable=False),
        sa.Column('entered_in_error_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('entered_in_error_reason', sa.String(length=500), nullable=True),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('pharmacy_id', sa.Integer(), nullable=False),
        sa.Column('dispensed_on', sa.Date(), nullable=False),
        sa.Column('days_supply', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Numeric(precision=10, scale=3), nullable=False),
        sa.Column('source_ncpdp_id', sa.String(length=7), nullable=False),
        sa.Column('rma_number', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_transfers_in_patient_id_patients')),
        sa.ForeignKeyConstraint(['pharmacy_id'], ['pharmacies.id'],
                                name=op.f('fk_transfers_in_pharmacy_id_pharmacies')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers_in')),
        sa.UniqueConstraint('rma_number', name=op.f('uq_transfers_in_rma_number')),
    )
    with op.batch_alter_table('transfers_in') as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_in_patient_id'), ['patient_id'], unique=False)
    _normalise_existing_rma_numbers(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('transfers_in') as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfers_in_patient_id'))
    op.drop_table('transfers_in')
    with op.batch_alter_table('lab_results') as batch_op:
        for column in ('value', 'reference_upper'):
            batch_op.alter_column(column, existing_type=sa.String(length=64), type_=sa.String(length=40))
    with op.batch_alter_table('decisions') as batch_op:
        batch_op.drop_column('policy_effective_from')
    with op.batch_alter_table('attestations') as batch_op:
        batch_op.drop_column('note')
        batch_op.alter_column('kind', existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('patients') as batch_op:
        batch_op.drop_column('status')
