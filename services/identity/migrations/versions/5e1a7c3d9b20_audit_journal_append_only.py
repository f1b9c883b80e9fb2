"""audit journal is append-only: the database refuses UPDATE and DELETE on it

Revision ID: 5e1a7c3d9b20
Revises: 2c1dabaeadea
Create Date: 2026-11-26 10:20:00
"""
from alembic import op

revision = '5e1a7c3d9b20'
down_revision = '2c1dabaeadea'
branch_labels = None
depends_on = None

MESSAGE = "audit_journal is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$;
            CREATE TRIGGER audit_journal_no_update_delete BEFORE UPDATE OR DELETE ON audit_journal
            FOR EACH ROW EXECUTE FUNCTION audit_journal_append_only();
        """)
    else:  # SQLite
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_journal_no_{action.lower()} BEFORE {action} ON audit_journal
                BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_journal_no_update_delete ON audit_journal; "
                   "DROP FUNCTION audit_journal_append_only();")
    else:
        op.execute("DROP TRIGGER audit_journal_no_update")
        op.execute("DROP TRIGGER audit_journal_no_delete")
