"""Booking's tables.

The rules live in `booking.domain`; these tables store their facts. Rule settings that are
data in the domain (schedules, deadline rules, opening windows) are stored as JSON and read back
through `booking.codec`, which validates them with the domain's own constructors.
"""
from __future__ import annotations

import sqlalchemy as sa

from servicekit.db import declarative_base
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.types import UTCDateTime, utcnow

Base = declarative_base()
metadata = Base.metadata

# Local copy of identity's families per commune (scopes bookings per tenant).
families = families_projection.define_table(metadata)

# identity's current agents per commune: an agent's call is refused once they are removed.
agents = agents_projection.define_table(metadata)

ID = sa.String(36)  # uuid4 as text
COMMUNE = sa.String(100)
SUB = sa.String(64)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
            sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)]


# --- the commune's calendar and catalogue -----------------------------------------------------------
commune_calendars = sa.Table(
    "commune_calendars", metadata,
    sa.Column("commune", COMMUNE, primary_key=True),
    sa.Column("zone", sa.String(1), nullable=False),  # school-holiday zone A, B or C
    sa.Column("school_weekdays", sa.JSON, nullable=False),  # [0, 1, 3, 4] for a four-day week
    *_timestamps(),
)

services = sa.Table(
    "services", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("commune", "code", name="uq_services_commune_code"),
)

prestations = sa.Table(
    "prestations", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False, index=True),
    sa.Column("service_id", ID, sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("schedule", sa.JSON, nullable=False),  # first, last, weekdays, opens_during
    sa.Column("booking_deadline", sa.JSON, nullable=False),  # a deadline rule (codec)
    sa.Column("cancellation_deadline", sa.JSON, nullable=False),
    sa.Column("horizon_days", sa.Integer, nullable=True),
    sa.Column("windows", sa.JSON, nullable=False),  # opening windows
    sa.Column("payment_mode", sa.String(20), nullable=False),
    sa.Column("price_ref", sa.String(64), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=True),
    sa.Column("starts_at", sa.Time, nullable=True),
    sa.Column("ends_at", sa.Time, nullable=True),
    sa.Column("waiting_list", sa.Boolean, nullable=False),
    sa.Column("waiting_list_auto_confirm", sa.Boolean, nullable=False),
    sa.Column("cancellation_auto_accept", sa.Boolean, nullable=False),
    sa.Column("refund_on_cancellation", sa.String(20), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("commune", "code", name="uq_prestations_commune_code"),
)

closures = sa.Table(
    "closures", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("prestation_id", ID, sa.ForeignKey("prestations.id", ondelete="CASCADE"), nullable=True),  # None: all
    sa.Column("closed_on", sa.Date, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created_by", SUB, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_closures_commune_closed_on", "commune", "closed_on"),
)

# One row per séance: generated from the prestation's openings, and the place counter that
# cart validation locks (SELECT ... FOR UPDATE) so confirmed bookings never exceed the capacity.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("prestation_id", ID, sa.ForeignKey("prestations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("session_date", sa.Date, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=True),  # this date's own capacity; None: the prestation's
    sa.Column("confirmed", sa.Integer, nullable=False, default=0),  # places taken for good
    sa.Column("held", sa.Integer, nullable=False, default=0),  # awaiting payment or an agent
    sa.Column("generated", sa.Boolean, nullable=False, default=False),  # an opening date an agent generated
    sa.CheckConstraint("confirmed >= 0 AND held >= 0", name="counts"),
)

# --- families' facts ------------------------------------------------------------------------------------
children = sa.Table(  # projection of identity's child.* events
    "children", metadata,
    sa.Column("child_id", ID, primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False, index=True),
    sa.Column("given_name", sa.String(100), nullable=False),
    sa.Column("family_name", sa.String(100), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=True),
    sa.Column("school", sa.String(200), nullable=True),
    sa.Column("class_name", sa.String(100), nullable=True),
    sa.Column("removed_at", UTCDateTime, nullable=True),  # left the family: history kept, no new bookings
    sa.Column("changed_at", UTCDateTime, nullable=False),  # identity's time of the fact shown
)

guardians = sa.Table(  # projection of identity's guardian.* and family_address.changed events
    "guardians", metadata,
    sa.Column("guardian_id", ID, primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", SUB, nullable=True),
    sa.Column("given_name", sa.String(100), nullable=True),
    sa.Column("family_name", sa.String(100), nullable=True),
    sa.Column("postcode", sa.String(10), nullable=True),
    sa.Column("city", sa.String(100), nullable=True),
    sa.Column("removed_at", UTCDateTime, nullable=True),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

enrolments = sa.Table(
    "enrolments", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("child_id", ID, nullable=False),
    sa.Column("service_id", ID, sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
    sa.Column("first", sa.Date, nullable=False),
    sa.Column("last", sa.Date, nullable=False),
    sa.Column("fixed_weekdays", sa.JSON, nullable=False),
    sa.Column("created_by", SUB, nullable=False),
    *_timestamps(),
    sa.Index("ix_enrolments_child_service", "child_id", "service_id"),
)

# --- bookings, carts, attendance ------------------------------------------------------------------------
bookings = sa.Table(
    "bookings", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("child_id", ID, nullable=False),
    sa.Column("service_id", ID, nullable=False),
    sa.Column("prestation_id", ID, sa.ForeignKey("prestations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("session_date", sa.Date, nullable=False),
    sa.Column("status", sa.String(30), nullable=False),  # domain.facts.BookingStatus
    sa.Column("cart_id", ID, nullable=True),
    sa.Column("waiting_since", UTCDateTime, nullable=True),  # the waiting list's order (first in, first out)
    *_timestamps(),
    sa.UniqueConstraint("child_id", "prestation_id", "session_date", name="uq_bookings_child_slot"),
    sa.Index("ix_bookings_slot_status", "prestation_id", "session_date", "status"),
    sa.Index("ix_bookings_commune_date", "commune", "session_date"),
    sa.Index("ix_bookings_family", "family_id"),
)

carts = sa.Table(
    "carts", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("parent_sub", SUB, nullable=False),
    sa.Column("commune", COMMUNE, nullable=True),  # a cart holds the lines of one commune
    sa.Column("state", sa.String(20), nullable=False),  # domain.cart.CartState
    sa.Column("validated_at", UTCDateTime, nullable=True),
    sa.Column("hold_expires_at", UTCDateTime, nullable=True),
    *_timestamps(),
    sa.Index("ix_carts_parent_state", "parent_sub", "state"),
    sa.Index("ix_carts_state_expiry", "state", "hold_expires_at"),
)

cart_lines = sa.Table(
    "cart_lines", metadata,
    sa.Column("cart_id", ID, sa.ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("child_id", ID, primary_key=True),
    sa.Column("prestation_id", ID, primary_key=True),
    sa.Column("session_date", sa.Date, primary_key=True),
    sa.Column("action", sa.String(10), nullable=False),  # book | cancel
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(30), nullable=True),  # domain.cart.LineStatus once validated
    sa.Column("reason", sa.String(40), nullable=True),  # domain.reasons.Reason code when refused
)

idempotency_keys = sa.Table(  # an operation answered once per caller and key: a retried request gets the same answer
    "idempotency_keys", metadata,
    sa.Column("caller_sub", SUB, primary_key=True),
    sa.Column("operation", sa.String(40), primary_key=True, server_default="cart.validate"),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("cart_id", ID, nullable=True),  # "Valider" only
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
)

attendance = sa.Table(
    "attendance", metadata,
    sa.Column("prestation_id", ID, sa.ForeignKey("prestations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("session_date", sa.Date, primary_key=True),
    sa.Column("child_id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(30), nullable=False),  # domain.facts.Attendance
    sa.Column("booked", sa.Boolean, nullable=False),
    sa.Column("recorded_by", SUB, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Index("ix_attendance_commune_date", "commune", "session_date"),
    sa.Index("ix_attendance_child_date", "child_id", "session_date"),  # a child's calendar
)

period_locks = sa.Table(  # billing's period.locked.v1: attendance of these dates is final
    "period_locks", metadata,
    sa.Column("commune", COMMUNE, primary_key=True),
    sa.Column("first", sa.Date, primary_key=True),
    sa.Column("last", sa.Date, nullable=False),
    sa.Column("locked_at", UTCDateTime, nullable=False),
)

deadline_overrides = sa.Table(
    "deadline_overrides", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("prestation_id", ID, sa.ForeignKey("prestations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("session_date", sa.Date, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_by", SUB, nullable=False),
    sa.Column("created_by_name", sa.String(200), nullable=True),  # the agent's display name then
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("family_id", "prestation_id", "session_date", name="uq_deadline_overrides_slot"),
)

audit_entries = sa.Table(  # what agents did (and automatic decisions they must be able to trace)
    "audit_entries", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("actor", SUB, nullable=False),  # the agent's sub, or "system"
    sa.Column("actor_name", sa.String(200), nullable=True),  # the agent's display name then (agents read names)
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_audit_entries_commune_at", "commune", "at"),
)

ical_feeds = sa.Table(  # secret, revocable feed URLs: only the token's hash is kept
    "ical_feeds", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("child_id", ID, nullable=False, index=True),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

booking_reminders = sa.Table(  # booking_reminder.due.v1 published once per family, prestation and week
    "booking_reminders", metadata,
    sa.Column("family_id", sa.String(64), primary_key=True),
    sa.Column("prestation_id", ID, sa.ForeignKey("prestations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("week_first", sa.Date, primary_key=True),
    sa.Column("sent_at", UTCDateTime, nullable=False, default=utcnow),
)
