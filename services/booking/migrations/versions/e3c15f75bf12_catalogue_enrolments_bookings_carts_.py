"""catalogue, enrolments, bookings, carts, attendance

Revision ID: e3c15f75bf12
Revises: 282114bd7eaf
Create Date: 2026-12-01 15:42:16.460692
"""
from alembic import op
import sqlalchemy as sa


revision = 'e3c15f75bf12'
down_revision = '282114bd7eaf'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    op.create_index('ix_audit_entries_commune_at', 'audit_entries', ['commune', 'at'], unique=False)
    op.create_table('carts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('parent_sub', sa.String(length=64), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hold_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carts'))
    )
    op.create_index('ix_carts_parent_state', 'carts', ['parent_sub', 'state'], unique=False)
    op.create_index('ix_carts_state_expiry', 'carts', ['state', 'hold_expires_at'], unique=False)
    op.create_table('children',
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('school', sa.String(length=200), nullable=True),
    sa.Column('class_name', sa.String(length=100), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('child_id', name=op.f('pk_children'))
    )
    op.create_index(op.f('ix_children_family_id'), 'children', ['family_id'], unique=False)
    op.create_table('commune_calendars',
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('zone', sa.String(length=1), nullable=False),
    sa.Column('school_weekdays', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('commune', name=op.f('pk_commune_calendars'))
    )
    op.create_table('guardians',
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('given_name', sa.String(length=100), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('guardian_id', name=op.f('pk_guardians'))
    )
    op.create_index(op.f('ix_guardians_family_id'), 'guardians', ['family_id'], unique=False)
    op.create_table('ical_feeds',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ical_feeds')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_ical_feeds_token_hash'))
    )
    op.create_index(op.f('ix_ical_feeds_child_id'), 'ical_feeds', ['child_id'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('parent_sub', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('cart_id', sa.String(length=36), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('parent_sub', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('period_locks',
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('first', sa.Date(), nullable=False),
    sa.Column('last', sa.Date(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('commune', 'first', name=op.f('pk_period_locks'))
    )
    op.create_table('services',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('commune', 'code', name='uq_services_commune_code')
    )
    op.create_table('cart_lines',
    sa.Column('cart_id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('prestation_id', sa.String(length=36), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_cart_lines_cart_id_carts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cart_id', 'child_id', 'prestation_id', 'session_date', name=op.f('pk_cart_lines'))
    )
    op.create_table('enrolments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('service_id', sa.String(length=36), nullable=False),
    sa.Column('first', sa.Date(), nullable=False),
    sa.Column('last', sa.Date(), nullable=False),
    sa.Column('fixed_weekdays', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_enrolments_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolments'))
    )
    op.create_index('ix_enrolments_child_service', 'enrolments', ['child_id', 'service_id'], unique=False)
    op.create_table('prestations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('service_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=False),
    sa.Column('booking_deadline', sa.JSON(), nullable=False),
    sa.Column('cancellation_deadline', sa.JSON(), nullable=False),
    sa.Column('horizon_days', sa.Integer(), nullable=True),
    sa.Column('windows', sa.JSON(), nullable=False),
    sa.Column('payment_mode', sa.String(length=20), nullable=False),
    sa.Column('price_ref', sa.String(length=64), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.Time(), nullable=True),
    sa.Column('ends_at', sa.Time(), nullable=True),
    sa.Column('waiting_list', sa.Boolean(), nullable=False),
    sa.Column('waiting_list_auto_confirm', sa.Boolean(), nullable=False),
    sa.Column('cancellation_auto_accept', sa.Boolean(), nullable=False),
    sa.Column('refund_on_cancellation', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_prestations_service_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prestations')),
    sa.UniqueConstraint('commune', 'code', name='uq_prestations_commune_code')
    )
    op.create_index(op.f('ix_prestations_commune'), 'prestations', ['commune'], unique=False)
    op.create_index(op.f('ix_prestations_service_id'), 'prestations', ['service_id'], unique=False)
    op.create_table('attendance',
    sa.Column('prestation_id', sa.String(length=36), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('booked', sa.Boolean(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prestation_id'], ['prestations.id'], name=op.f('fk_attendance_prestation_id_prestations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prestation_id', 'session_date', 'child_id', name=op.f('pk_attendance'))
    )
    op.create_index('ix_attendance_commune_date', 'attendance', ['commune', 'session_date'], unique=False)
    op.create_index('ix_attendance_child_date', 'attendance', ['child_id', 'session_date'], unique=False)
    op.create_table('bookings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('service_id', sa.String(length=36), nullable=False),
    sa.Column('prestation_id', sa.String(length=36), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('cart_id', sa.String(length=36), nullable=True),
    sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prestation_id'], ['prestations.id'], name=op.f('fk_bookings_prestation_id_prestations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings')),
    sa.UniqueConstraint('child_id', 'prestation_id', 'session_date', name='uq_bookings_child_slot')
    )
    op.create_index('ix_bookings_commune_date', 'bookings', ['commune', 'session_date'], unique=False)
    op.create_index('ix_bookings_family', 'bookings', ['family_id'], unique=False)
    op.create_index('ix_bookings_slot_status', 'bookings', ['prestation_id', 'session_date', 'status'], unique=False)
    op.create_table('closures',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('prestation_id', sa.String(length=36), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prestation_id'], ['prestations.id'], name=op.f('fk_closures_prestation_id_prestations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closures'))
    )
    op.create_index('ix_closures_commune_closed_on', 'closures', ['commune', 'closed_on'], unique=False)
    op.create_table('deadline_overrides',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('family_id', sa.String(length=64), nullable=False),
    sa.Column('prestation_id', sa.String(length=36), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['prestation_id'], ['prestations.id'], name=op.f('fk_deadline_overrides_prestation_id_prestations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline_overrides')),
    sa.UniqueConstraint('family_id', 'prestation_id', 'session_date', name='uq_deadline_overrides_slot')
    )
    op.create_table('sessions',
    sa.Column('prestation_id', sa.String(length=36), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('commune', sa.String(length=100), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('confirmed', sa.Integer(), nullable=False),
    sa.Column('held', sa.Integer(), nullable=False),
    sa.Column('generated', sa.Boolean(), nullable=False),
    sa.CheckConstraint('confirmed >= 0 AND held >= 0', name=op.f('ck_sessions_counts')),
    sa.ForeignKeyConstraint(['prestation_id'], ['prestations.id'], name=op.f('fk_sessions_prestation_id_prestations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prestation_id', 'session_date', name=op.f('pk_sessions'))
    )


def downgrade() -> None:
    op.drop_table('sessions')
    op.drop_table('deadline_overrides')
    op.drop_index('ix_closures_commune_closed_on', table_name='closures')
    op.drop_table('closures')
    op.drop_index('ix_bookings_slot_status', table_name='bookings')
    op.drop_index('ix_bookings_family', table_name='bookings')
    op.drop_index('ix_bookings_commune_date', table_name='bookings')
    op.drop_table('bookings')
    op.drop_index('ix_attendance_child_date', table_name='attendance')
    op.drop_index('ix_attendance_commune_date', table_name='attendance')
    op.drop_table('attendance')
    op.drop_index(op.f('ix_prestations_service_id'), table_name='prestations')
    op.drop_index(op.f('ix_prestations_commune'), table_name='prestations')
    op.drop_table('prestations')
    op.drop_index('ix_enrolments_child_service', table_name='enrolments')
    op.drop_table('enrolments')
    op.drop_table('cart_lines')
    op.drop_table('services')
    op.drop_table('period_locks')
    op.drop_table('idempotency_keys')
    op.drop_index(op.f('ix_ical_feeds_child_id'), table_name='ical_feeds')
    op.drop_table('ical_feeds')
    op.drop_index(op.f('ix_guardians_family_id'), table_name='guardians')
    op.drop_table('guardians')
    op.drop_table('commune_calendars')
    op.drop_index(op.f('ix_children_family_id'), table_name='children')
    op.drop_table('children')
    op.drop_index('ix_carts_state_expiry', table_name='carts')
    op.drop_index('ix_carts_parent_state', table_name='carts')
    op.drop_table('carts')
    op.drop_index('ix_audit_entries_commune_at', table_name='audit_entries')
    op.drop_table('audit_entries')
