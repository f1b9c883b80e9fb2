"""Notify's tables: every notification ever made with its sending state, who to write to
(projections of identity's events), parents' preferences and refused addresses."""
import sqlalchemy as sa

from servicekit.db import declarative_base
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.types import UTCDateTime

Base = declarative_base()

QUEUED, SENT, FAILED = "queued", "sent", "failed"
STATUSES = (QUEUED, SENT, FAILED)

notifications = sa.Table(
    "notifications",
    Base.metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("template", sa.String(50), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    # The bodies are rendered once, when the event arrives: what was sent can be shown later.
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    # Stable for every attempt, so a duplicate after a crash is recognisable (see sending.py).
    sa.Column("message_id", sa.String(200), nullable=False, unique=True),
    # The event answered; for the scheduled e-mails (daily summary, reminders) a name-based
    # UUID of what they are about, so that a second run makes the same id (see jobs).
    sa.Column("source_event_id", sa.String(36), nullable=False),
    sa.Column("source_event_type", sa.String(100), nullable=False),
    # The commune the e-mail is about, when known: agents see only theirs.
    sa.Column("commune", sa.String(100), nullable=True),
    # The family it is about (undeliverable addresses are shown with their family).
    sa.Column("family_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    # Never two e-mails of the same kind to one address for one event, whatever the deliveries.
    sa.UniqueConstraint("template", "source_event_id", "recipient", name="uq_notifications_template_source_recipient"),
    sa.CheckConstraint(f"status IN {STATUSES!r}", name="status"),
)
# The sending job's query: queued rows whose back-off has expired.
sa.Index("ix_notifications_due", notifications.c.status, notifications.c.next_attempt_at)
sa.Index("ix_notifications_recipient", notifications.c.recipient)

# --- who to write to (projections of identity's events, see notify/directory.py) --------------
# Families per commune (name, status) and current agents per commune: servicekit's projections.
families = families_projection.define_table(Base.metadata)
agents = agents_projection.define_table(Base.metadata)

# A user's current e-mail address (and first name), from identity's events that carry both.
user_emails = sa.Table(
    "user_emails",
    Base.metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),   # public sub
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("given_name", sa.String(200), nullable=True),
    sa.Column("changed_at", UTCDateTime, nullable=False),    # time of the fact, newer wins
)

# The responsables of each family. `guardian_key` is identity's guardian id, or "user:<sub>"
# when only the account is known (family.activated.v1); `email` when the event carried one.
family_guardians = sa.Table(
    "family_guardians",
    Base.metadata,
    sa.Column("family_id", sa.String(64), primary_key=True),
    sa.Column("guardian_key", sa.String(80), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

# The login e-mail an agent registered the family with: the address of last resort.
family_contacts = sa.Table(
    "family_contacts",
    Base.metadata,
    sa.Column("family_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

communes = sa.Table(
    "communes",
    Base.metadata,
    sa.Column("slug", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
)

children = sa.Table(
    "children",
    Base.metadata,
    sa.Column("child_id", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False, index=True),
    sa.Column("given_name", sa.String(200), nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

# --- parents' choices and refused addresses ------------------------------------------------------
# Only deviations from the default (every message on) are stored.
preferences = sa.Table(
    "preferences",
    Base.metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(50), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Addresses a server refused for good (5xx), per commune: shown to its agents until a later
# e-mail to the same address goes through.
undeliverable_addresses = sa.Table(
    "undeliverable_addresses",
    Base.metadata,
    sa.Column("commune", sa.String(100), primary_key=True),   # "" when the e-mail named none
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=True),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("last_notification_id", sa.String(36), nullable=False),
    sa.Column("refusals", sa.Integer, nullable=False),
    sa.Column("first_refused_at", UTCDateTime, nullable=False),
    sa.Column("last_refused_at", UTCDateTime, nullable=False),
)
