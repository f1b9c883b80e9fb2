"""TOTP enrolment links

Revision ID: a7c3e9f1d2b4
Revises: c4436ea650c6
Create Date: 2026-12-01 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c3e9f1d2b4'
down_revision = 'c4436ea650c6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('totp_enrolments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_totp_enrolments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_totp_enrolments')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_totp_enrolments_token_hash'))
    )
    op.create_index(op.f('ix_totp_enrolments_user_id'), 'totp_enrolments', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_totp_enrolments_user_id'), table_name='totp_enrolments')
    op.drop_table('totp_enrolments')
