"""outbox: parked events

Revision ID: c4436ea650c6
Revises: 5e1a7c3d9b20
Create Date: 2026-12-01 15:45:00

The relay parks an event the broker refused OUTBOX_MAX_ATTEMPTS times (parked_at) instead of
retrying it forever; the pending index leaves parked rows out, a small index finds them.
"""
from alembic import op
import sqlalchemy as sa


revision = 'c4436ea650c6'
down_revision = '5e1a7c3d9b20'
branch_labels = None
depends_on = None

PENDING = sa.text('published_at IS NULL AND parked_at IS NULL')
PARKED = sa.text('parked_at IS NOT NULL')
OLD_PENDING = sa.text('published_at IS NULL')


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('ix_outbox_pending', postgresql_where=OLD_PENDING, sqlite_where=OLD_PENDING)
        batch_op.create_index('ix_outbox_pending', ['seq'], unique=False, postgresql_where=PENDING,
                              sqlite_where=PENDING)
        batch_op.create_index('ix_outbox_parked', ['seq'], unique=False, postgresql_where=PARKED,
                              sqlite_where=PARKED)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_parked', postgresql_where=PARKED, sqlite_where=PARKED)
        batch_op.drop_index('ix_outbox_pending', postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.create_index('ix_outbox_pending', ['seq'], unique=False, postgresql_where=OLD_PENDING,
                              sqlite_where=OLD_PENDING)
        batch_op.drop_column('parked_at')
