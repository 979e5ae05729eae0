"""the audit trail refuses every rewrite: UPDATE, DELETE, TRUNCATE and replacing inserts on
audit_events and audit_checkpoints, on both engines

Revision ID: 0006
Revises: 0005

0001 refused UPDATE and DELETE on audit_events. That left open, to anyone holding the application's
own credentials:
- SQLite: `INSERT OR REPLACE` (and `REPLACE`, `INSERT ... ON CONFLICT`), which removes the row in its
  way without firing DELETE triggers (they fire for REPLACE only with recursive_triggers on). A
  BEFORE INSERT trigger that refuses an id, or a hash, already present runs before the conflict is
  resolved, so the replacing insert never reaches its delete step.
- PostgreSQL: TRUNCATE, which fires no row trigger; a statement-level BEFORE TRUNCATE trigger
  refuses it. (A replacing insert there is `INSERT ... ON CONFLICT DO UPDATE`, which fires the
  UPDATE triggers already in place.)
- audit_checkpoints had no guard at all: the same guards now cover it.
(On SQLite, `DELETE FROM t` without WHERE is a truncation, and SQLite skips that shortcut on a
table with triggers, so the DELETE trigger covers it.)
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SQLITE_GUARDS = (
    """CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
       WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id)
         OR EXISTS (SELECT 1 FROM audit_events WHERE hash = NEW.hash)
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: replacing an event refused'); END""",
    """CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
       BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
       BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE refused'); END""",
    """CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
       WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE id = NEW.id)
       BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: replacing a checkpoint refused'); END""",
)
SQLITE_NAMES = ("audit_events_no_replace", "audit_checkpoints_no_update", "audit_checkpoints_no_delete",
                "audit_checkpoints_no_replace")

POSTGRESQL_GUARDS = (
    """CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
       FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
       FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
       FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
       FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
)
POSTGRESQL_NAMES = (("audit_events_no_truncate", "audit_events"), ("audit_checkpoints_no_update", "audit_checkpoints"),
                    ("audit_checkpoints_no_delete", "audit_checkpoints"),
                    ("audit_checkpoints_no_truncate", "audit_checkpoints"))


def upgrade() -> None:
    for statement in SQLITE_GUARDS if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name, table in POSTGRESQL_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
