"""Notify's tables: every notification ever made, with its sending state."""
import sqlalchemy as sa

from servicekit.db import declarative_base

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
    sa.Column("source_event_id", sa.String(36), nullable=False),
    sa.Column("source_event_type", sa.String(100), nullable=False),
    # The commune the e-mail is about, when the event names one: agents see only theirs.
    sa.Column("commune", sa.String(100), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    # Never two e-mails of the same kind for one event, whatever the deliveries.
    sa.UniqueConstraint("template", "source_event_id", name="uq_notifications_template_source_event"),
    sa.CheckConstraint(f"status IN {STATUSES!r}", name="status"),
)
# The sending job's query: queued rows whose back-off has expired.
sa.Index("ix_notifications_due", notifications.c.status, notifications.c.next_attempt_at)
sa.Index("ix_notifications_recipient", notifications.c.recipient)
