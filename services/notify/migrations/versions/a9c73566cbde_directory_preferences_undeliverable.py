"""directory, preferences, undeliverable addresses; one notification per recipient

Revision ID: a9c73566cbde
Revises: b4600d54b1eb
Create Date: 2026-12-01 16:05:42.872947

notify's own projections of identity's facts (who to write to), parents' choices of e-mails,
addresses refused for good per commune; a notification is now unique per (template, source
event, recipient): one event can be answered to each responsable of a family.
"""
from alembic import op
import sqlalchemy as sa


revision = 'a9c73566cbde'
down_revision = 'b4600d54b1eb'
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
    op.create_table('children',
    sa.Column('child_id', sa.String(length=64), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('given_name', sa.String(length=200), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('child_id', name=op.f('pk_children'))
    )
    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_children_family_id'), ['family_id'], unique=False)

    op.create_table('communes',
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('slug', name=op.f('pk_communes'))
    )
    op.create_table('families',
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('registered', 'active')", name=op.f('ck_families_status')),
    sa.PrimaryKeyConstraint('family_id', 'commune', name=op.f('pk_families'))
    )
    op.create_table('family_contacts',
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('family_id', name=op.f('pk_family_contacts'))
    )
    op.create_table('family_guardians',
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('guardian_key', sa.String(length=80), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('family_id', 'guardian_key', name=op.f('pk_family_guardians'))
    )
    op.create_table('preferences',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'kind', name=op.f('pk_preferences'))
    )
    op.create_table('undeliverable_addresses',
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_notification_id', sa.String(length=36), nullable=False),
    sa.Column('refusals', sa.Integer(), nullable=False),
    sa.Column('first_refused_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_refused_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('commune', 'email', name=op.f('pk_undeliverable_addresses'))
    )
    op.create_table('user_emails',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('given_name', sa.String(length=200), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_emails'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_id', sa.String(length=64), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_notifications_template_source_event'), type_='unique')
        batch_op.create_unique_constraint('uq_notifications_template_source_recipient', ['template', 'source_event_id', 'recipient'])



def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notifications_template_source_recipient', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notifications_template_source_event'), ['template', 'source_event_id'])
        batch_op.drop_column('family_id')

    op.drop_table('user_emails')
    op.drop_table('undeliverable_addresses')
    op.drop_table('preferences')
    op.drop_table('family_guardians')
    op.drop_table('family_contacts')
    op.drop_table('families')
    op.drop_table('communes')
    with op.batch_alter_table('children', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_children_family_id'))

    op.drop_table('children')
    op.drop_table('agents')
