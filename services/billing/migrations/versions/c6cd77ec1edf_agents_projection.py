"""agents projection

Revision ID: c6cd77ec1edf
Revises: ee8659aa3f56
Create Date: 2026-12-01 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'c6cd77ec1edf'
down_revision = 'ee8659aa3f56'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'commune', name=op.f('pk_agents'))
    )


def downgrade() -> None:
    op.drop_table('agents')
