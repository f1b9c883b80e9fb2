"""cart validations seen (cart.abandoned.v1 of a cart billing did not price is not retried forever)

Revision ID: 3b7f0c2a9d41
Revises: 56858c9187fb
Create Date: 2026-12-02 01:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '3b7f0c2a9d41'
down_revision = '56858c9187fb'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cart_validations',
    sa.Column('cart_id', sa.String(length=64), nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cart_id', 'validated_at', name=op.f('pk_cart_validations'))
    )


def downgrade() -> None:
    op.drop_table('cart_validations')
