"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 05:42:03.052546
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('head_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_subject'), ['subject'], unique=False)

    op.create_table('pharmacies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('ncpdp_id', sa.String(length=7), nullable=False),
    sa.Column('rems_registration_id', sa.String(length=64), nullable=False),
    sa.Column('activated_until', sa.Date(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pharmacies')),
    sa.UniqueConstraint('ncpdp_id', name=op.f('uq_pharmacies_ncpdp_id'))
    )
    op.create_table('prescribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('npi', sa.String(length=10), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('license_state', sa.String(length=64), nullable=False),
    sa.Column('license_number', sa.String(length=64), nullable=False),
    sa.Column('license_expires_on', sa.Date(), nullable=False),
    sa.Column('rems_certified_until', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescribers')),
    sa.UniqueConstraint('npi', name=op.f('uq_prescribers_npi'))
    )
    op.create_table('scheduler_heartbeats',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_heartbeats'))
    )
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('can_get_pregnant', sa.Boolean(), nullable=False),
    sa.Column('rems_patient_id', sa.String(length=64), nullable=True),
    sa.Column('enrolled_on', sa.Date(), nullable=False),
    sa.Column('home_pregnancy_tests_allowed', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prescriber_id'], ['prescribers.id'], name=op.f('fk_patients_prescriber_id_prescribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_prescriber_id'), ['prescriber_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=True),
    sa.Column('pharmacy_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['pharmacies.id'], name=op.f('fk_users_pharmacy_id_pharmacies')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['prescribers.id'], name=op.f('fk_users_prescriber_id_prescribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_pharmacy_id'), ['pharmacy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_prescriber_id'), ['prescriber_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('attestations',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('attested_on', sa.Date(), nullable=False),
    sa.Column('methods', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('entered_in_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('entered_in_error_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_attestations_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attestations'))
    )
    with op.batch_alter_table('attestations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attestations_patient_id'), ['patient_id'], unique=False)

    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('route', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_records_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('user_id', 'route', 'key', name='uq_idempotency_user_route_key')
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_records_created_at'), ['created_at'], unique=False)

    op.create_table('lab_results',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('test', sa.String(length=32), nullable=False),
    sa.Column('loinc', sa.String(length=16), nullable=True),
    sa.Column('value', sa.String(length=40), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('reference_upper', sa.String(length=40), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('entered_in_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('entered_in_error_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_lab_results_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lab_results'))
    )
    with op.batch_alter_table('lab_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_results_patient_id'), ['patient_id'], unique=False)

    op.create_table('pregnancy_tests',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('specimen_collected_on', sa.Date(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('specimen', sa.String(length=16), nullable=False),
    sa.Column('setting', sa.String(length=16), nullable=False),
    sa.Column('clia_number', sa.String(length=10), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('entered_in_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('entered_in_error_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_pregnancy_tests_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pregnancy_tests'))
    )
    with op.batch_alter_table('pregnancy_tests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pregnancy_tests_patient_id'), ['patient_id'], unique=False)

    op.create_table('prescriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=False),
    sa.Column('pharmacy_id', sa.Integer(), nullable=False),
    sa.Column('drug', sa.String(length=100), nullable=False),
    sa.Column('ndc', sa.String(length=14), nullable=True),
    sa.Column('strength_mg', sa.Numeric(precision=10, scale=3), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=10, scale=3), nullable=False),
    sa.Column('days_supply', sa.Integer(), nullable=False),
    sa.Column('refills', sa.Integer(), nullable=False),
    sa.Column('written_on', sa.Date(), nullable=False),
    sa.Column('first_of_course', sa.Boolean(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_prescriptions_patient_id_patients')),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['pharmacies.id'], name=op.f('fk_prescriptions_pharmacy_id_pharmacies')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['prescribers.id'], name=op.f('fk_prescriptions_prescriber_id_prescribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescriptions'))
    )
    with op.batch_alter_table('prescriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescriptions_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prescriptions_pharmacy_id'), ['pharmacy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prescriptions_prescriber_id'), ['prescriber_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prescriptions_status'), ['status'], unique=False)

    op.create_table('decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evaluated_by', sa.String(length=40), nullable=False),
    sa.Column('policy_name', sa.String(length=32), nullable=False),
    sa.Column('policy_version', sa.String(length=32), nullable=False),
    sa.Column('dispense_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispense_by_source', sa.JSON(), nullable=True),
    sa.Column('gates', sa.JSON(), nullable=False),
    sa.Column('cited', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'], name=op.f('fk_decisions_prescription_id_prescriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_prescription_id'), ['prescription_id'], unique=False)

    op.create_table('authorizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('pharmacy_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dispense_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reversal_reason', sa.String(length=500), nullable=True),
    sa.Column('reversed_by', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], name=op.f('fk_authorizations_decision_id_decisions')),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['pharmacies.id'], name=op.f('fk_authorizations_pharmacy_id_pharmacies')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'], name=op.f('fk_authorizations_prescription_id_prescriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorizations'))
    )
    with op.batch_alter_table('authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorizations_prescription_id'), ['prescription_id'], unique=False)
        batch_op.create_index('ix_authorizations_status_dispense_by', ['status', 'dispense_by'], unique=False)
        batch_op.create_index('uq_authorizations_one_active', ['prescription_id'], unique=True, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.create_table('dispenses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('authorization_id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('pharmacy_id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=10, scale=3), nullable=False),
    sa.Column('days_supply', sa.Integer(), nullable=False),
    sa.Column('dispensed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispensed_on', sa.Date(), nullable=False),
    sa.Column('dispensed_by', sa.String(length=40), nullable=False),
    sa.Column('rma_number', sa.String(length=64), nullable=True),
    sa.Column('rma_do_not_dispense_after', sa.Date(), nullable=True),
    sa.Column('acknowledged_warnings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['authorizations.id'], name=op.f('fk_dispenses_authorization_id_authorizations')),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], name=op.f('fk_dispenses_decision_id_decisions')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_dispenses_patient_id_patients')),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['pharmacies.id'], name=op.f('fk_dispenses_pharmacy_id_pharmacies')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'], name=op.f('fk_dispenses_prescription_id_prescriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispenses')),
    sa.UniqueConstraint('authorization_id', name=op.f('uq_dispenses_authorization_id')),
    sa.UniqueConstraint('prescription_id', name=op.f('uq_dispenses_prescription_id')),
    sa.UniqueConstraint('rma_number', name=op.f('uq_dispenses_rma_number'))
    )
    with op.batch_alter_table('dispenses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispenses_patient_id'), ['patient_id'], unique=False)

    create_audit_guards()


# The audit trail is append-only underneath the ORM too: the database itself refuses UPDATE and
# DELETE on audit_events, whoever connects.
SQLITE_GUARDS = (
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END""",
)
POSTGRESQL_GUARDS = (
    """CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()""",
)


def create_audit_guards() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_GUARDS if dialect == "sqlite" else POSTGRESQL_GUARDS:
        op.execute(statement)


def drop_audit_guards() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update" +
               ("" if op.get_bind().dialect.name == "sqlite" else " ON audit_events"))
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete" +
               ("" if op.get_bind().dialect.name == "sqlite" else " ON audit_events"))
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS audit_events_refuse_change()")
