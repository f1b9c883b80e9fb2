"""booking reminders: booking_reminder.due.v1 published once per family, prestation and week

Revision ID: 9d4f2a6b1c70
Revises: 5b1e2c7d9a40
Create Date: 2026-12-01 17:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '9d4f2a6b1c70'
down_revision = '5b1e2c7d9a40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('booking_reminders',
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('prestation_id', sa.String(length=36), nullable=False),
    sa.Column('week_first', sa.Date(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prestation_id'], ['prestations.id'], name=op.f('fk_booking_reminders_prestation_id_prestations'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('family_id', 'prestation_id', 'week_first', name=op.f('pk_booking_reminders'))
    )


def downgrade() -> None:
    op.drop_table('booking_reminders')
