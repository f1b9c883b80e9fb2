"""The requests service's tables (rules live in demandes.domain)."""
from __future__ import annotations

import sqlalchemy as sa

from servicekit import idempotency
from servicekit.db import declarative_base
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.types import UTCDateTime, utcnow

Base = declarative_base()

# Answers of creating POSTs per Idempotency-Key (servicekit.idempotency; kept 24 h).
idempotency_keys = idempotency.define_table(Base.metadata)
metadata = Base.metadata

# Local copy of identity's families per commune (scopes this service's data per tenant).
families = families_projection.define_table(metadata)

# identity's current agents per commune: an agent's call is refused once they are removed.
agents = agents_projection.define_table(metadata)

ID = sa.String(36)
COMMUNE = sa.String(100)
SUB = sa.String(64)
CODE = sa.String(40)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
            sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)]


# identity's children (child.added/updated/removed): the child picker and its tenancy.
children = sa.Table(
    "children", metadata,
    sa.Column("child_id", ID, primary_key=True),
    sa.Column("family_id", ID, nullable=False, index=True),
    sa.Column("given_name", sa.String(100), nullable=False),
    sa.Column("family_name", sa.String(100), nullable=False),
    sa.Column("removed_at", UTCDateTime, nullable=True),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

document_types = sa.Table(
    "document_types", metadata,
    sa.Column("commune", COMMUNE, primary_key=True),
    sa.Column("code", CODE, primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("formats", sa.JSON, nullable=False),          # ["pdf", "jpeg", "png"]
    sa.Column("max_bytes", sa.Integer, nullable=False),
    sa.Column("validity", sa.String(20), nullable=False),   # none, months_3, calendar_year, school_year
    sa.Column("per_child", sa.Boolean, nullable=False),
    *_timestamps(),
)

categories = sa.Table(
    "categories", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False, index=True),
    sa.Column("code", CODE, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("template", sa.Text, nullable=True),           # text the parent completes
    sa.Column("fields", sa.JSON, nullable=False),            # demandes.domain.forms
    sa.Column("documents", sa.JSON, nullable=False),         # [{"doc_type": code, "required": bool}]
    sa.Column("effect", sa.String(40), nullable=True),       # demandes.domain.effects
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("commune", "code", name="uq_categories_commune_code"),
)

reply_templates = sa.Table(
    "reply_templates", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False, index=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    *_timestamps(),
)

request_counters = sa.Table(
    "request_counters", metadata,
    sa.Column("commune", COMMUNE, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

requests = sa.Table(
    "requests", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("family_id", ID, nullable=False, index=True),
    sa.Column("category_id", ID, sa.ForeignKey("categories.id"), nullable=False, index=True),
    sa.Column("reference", sa.String(30), nullable=True),   # given on submission, D-2026-00042
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("created_by", SUB, nullable=False),
    sa.Column("submitted_at", UTCDateTime, nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("decision_message", sa.Text, nullable=True),
    sa.Column("handled_by", SUB, nullable=True),
    *_timestamps(),
    sa.Index("ix_requests_commune_status_submitted", "commune", "status", "submitted_at"),
    sa.UniqueConstraint("commune", "reference", name="uq_requests_commune_reference"),
)

request_history = sa.Table(
    "request_history", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", ID, sa.ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", SUB, nullable=False),
    sa.Column("actor_role", sa.String(20), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=True),
)

documents = sa.Table(
    "documents", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("family_id", ID, nullable=False),
    sa.Column("commune", COMMUNE, nullable=False),
    sa.Column("doc_type", CODE, nullable=False),
    sa.Column("child_id", ID, nullable=True),
    sa.Column("name", sa.String(300), nullable=False),        # cleaned, shown only
    sa.Column("format", sa.String(10), nullable=False),        # pdf, jpeg, png (from the content)
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(80), nullable=False, unique=True),  # random file name
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date, nullable=True),
    sa.Column("uploaded_by", SUB, nullable=False),
    sa.Column("uploaded_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=True),
    sa.Index("ix_documents_family_commune", "family_id", "commune"),
)

request_documents = sa.Table(
    "request_documents", metadata,
    sa.Column("request_id", ID, sa.ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("document_id", ID, sa.ForeignKey("documents.id"), primary_key=True, index=True),
    sa.Column("attached_at", UTCDateTime, nullable=False),
)

# Documents a commune requires before a child's enrolment in one of its (booking) services.
enrolment_requirements = sa.Table(
    "enrolment_requirements", metadata,
    sa.Column("commune", COMMUNE, primary_key=True),
    sa.Column("service_id", sa.String(64), primary_key=True),
    sa.Column("doc_type", CODE, primary_key=True),
)

# The day's summary of pending requests, published once per commune and day.
summaries = sa.Table(
    "summaries", metadata,
    sa.Column("commune", COMMUNE, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("published_at", UTCDateTime, nullable=False),
)
