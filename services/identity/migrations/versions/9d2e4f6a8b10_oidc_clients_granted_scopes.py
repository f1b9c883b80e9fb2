"""oidc_clients.scopes: the scopes an operator granted each client

Revision ID: 9d2e4f6a8b10
Revises: a7c3e9f1d2b4
Create Date: 2026-12-01 16:00:00

Existing clients keep what they could ask for until now: signing users in (openid profile
email); API scopes are granted with `register-client/ensure-client --scopes`.
"""
from alembic import op
import sqlalchemy as sa


revision = '9d2e4f6a8b10'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oidc_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(length=500), nullable=False,
                                      server_default='openid profile email'))


def downgrade() -> None:
    with op.batch_alter_table('oidc_clients', schema=None) as batch_op:
        batch_op.drop_column('scopes')
