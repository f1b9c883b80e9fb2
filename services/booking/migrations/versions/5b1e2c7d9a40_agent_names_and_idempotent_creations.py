"""agents' names in the audit trail and overrides; idempotency keys per operation

Revision ID: 5b1e2c7d9a40
Revises: e3c15f75bf12
Create Date: 2026-12-01 17:10:00

The audit trail and the deadline overrides keep the acting agent's display name (agents read
names, not ids). Idempotency keys, until now for the parents' "Valider" only, are scoped by
caller and operation so agents' creations (service, prestation, enrolment) use them too; existing
rows are "Valider"'s. SQLite cannot change a primary key in place (batch mode drops it): the
table is rebuilt there.
"""
from alembic import op
import sqlalchemy as sa


revision = '5b1e2c7d9a40'
down_revision = 'e3c15f75bf12'
branch_labels = None
depends_on = None



def _rebuild_keys_on_sqlite(columns: list[sa.Column], primary_key: list[str], select: str, insert: str) -> None:
    op.create_table('idempotency_keys_rebuilt', *columns,
                    sa.PrimaryKeyConstraint(*primary_key, name='pk_idempotency_keys'))
    op.execute(f'INSERT INTO idempotency_keys_rebuilt ({insert}) SELECT {select} FROM idempotency_keys')
    op.drop_table('idempotency_keys')
    op.rename_table('idempotency_keys_rebuilt', 'idempotency_keys')


def _common() -> list[sa.Column]:
    return [sa.Column('key', sa.String(length=100), nullable=False),
            sa.Column('response', sa.JSON(), nullable=False),
            sa.Column('created_at', sa.DateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_name', sa.String(length=200), nullable=True))
    with op.batch_alter_table('deadline_overrides', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_name', sa.String(length=200), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_keys_on_sqlite(
            [sa.Column('caller_sub', sa.String(length=64), nullable=False),
             sa.Column('operation', sa.String(length=40), server_default='cart.validate', nullable=False),
             *_common(), sa.Column('cart_id', sa.String(length=36), nullable=True)],
            ['caller_sub', 'operation', 'key'],
            "parent_sub, 'cart.validate', key, response, created_at, cart_id",
            'caller_sub, operation, key, response, created_at, cart_id')
        return
    op.drop_constraint('pk_idempotency_keys', 'idempotency_keys', type_='primary')
    op.alter_column('idempotency_keys', 'parent_sub', new_column_name='caller_sub')
    op.add_column('idempotency_keys', sa.Column('operation', sa.String(length=40), nullable=False,
                                                server_default='cart.validate'))
    op.alter_column('idempotency_keys', 'cart_id', existing_type=sa.String(length=36), nullable=True)
    op.create_primary_key('pk_idempotency_keys', 'idempotency_keys', ['caller_sub', 'operation', 'key'])


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys WHERE operation <> 'cart.validate'")
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_keys_on_sqlite(
            [sa.Column('parent_sub', sa.String(length=64), nullable=False), *_common(),
             sa.Column('cart_id', sa.String(length=36), nullable=False)],
            ['parent_sub', 'key'],
            'caller_sub, key, response, created_at, cart_id',
            'parent_sub, key, response, created_at, cart_id')
    else:
        op.drop_constraint('pk_idempotency_keys', 'idempotency_keys', type_='primary')
        op.alter_column('idempotency_keys', 'cart_id', existing_type=sa.String(length=36), nullable=False)
        op.drop_column('idempotency_keys', 'operation')
        op.alter_column('idempotency_keys', 'caller_sub', new_column_name='parent_sub')
        op.create_primary_key('pk_idempotency_keys', 'idempotency_keys', ['parent_sub', 'key'])
    with op.batch_alter_table('deadline_overrides', schema=None) as batch_op:
        batch_op.drop_column('created_by_name')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_column('actor_name')
