"""The `families` projection: each service's local copy of identity's families per commune.

booking, billing and requests each need to know which families exist in which commune (to
scope bookings, invoices and requests per tenant) without reading identity's tables. They
build the same projection from `family.registered.v1` and `family.activated.v1`, so it is
written once here and wired by each service in three lines:

    families = define_table(Base.metadata)                 # models.py
    install_handlers(worker, families)                     # worker.py
    install_api(app, families)                             # app.py

A family can belong to several communes, so a row is one (family, commune) association.
Handlers are idempotent on their own (upserts that never move a status backwards) besides
the inbox: the two events travel on separate queues and may arrive in either order.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from contracts.identity import FamilyActivated, FamilyRegistered
from servicekit.db import Database, dialect_insert
from servicekit.tokens import Caller
from servicekit.types import UTCDateTime, isoformat_utc

TABLE = "families"
SOURCE = "identity"
REGISTERED = "registered"
ACTIVE = "active"
STATUSES = (REGISTERED, ACTIVE)

# The OpenAPI document of GET /internal/families/{family_id}, added beside each service's own.
SPEC_FILE = Path(__file__).with_name("families.openapi.yaml")
_APP_CONFIG_KEY = "FAMILIES_PROJECTION_TABLE"

# Roles that see every commune (support and platform processes).
_PLATFORM_ROLES = ("operator", "system")
_COMMUNE_ROLES = ("agent", "admin")


def define_table(metadata: sa.MetaData) -> sa.Table:
    """Add the `families` table to a service's metadata (its migrations then create it)."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("family_id", sa.String(64), primary_key=True),
        sa.Column("commune", sa.String(100), primary_key=True),
        # Unknown until family.registered arrives (family.activated does not carry it).
        sa.Column("family_name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    )


# --- handlers ----------------------------------------------------------------------------------
def _insert_if_absent(session: Session, table: sa.Table, values: dict) -> bool:
    """Insert the row unless its key exists (concurrent handlers cannot collide). True if inserted."""
    # RETURNING says whether the row went in (rowcount is not reliable across drivers).
    stmt = dialect_insert(session, table).values(**values).on_conflict_do_nothing().returning(table.c.family_id)
    return session.execute(stmt).first() is not None


def _key(table: sa.Table, family_id: str, commune: str):
    return sa.and_(table.c.family_id == family_id, table.c.commune == commune)


def on_family_registered(table: sa.Table):
    def handle(session: Session, envelope: Envelope) -> None:
        event = envelope.payload(FamilyRegistered)
        now = datetime.now(timezone.utc)
        inserted = _insert_if_absent(session, table, {
            "family_id": event.family_id, "commune": event.commune, "family_name": event.family_name,
            "status": REGISTERED, "updated_at": now,
        })
        if not inserted:
            # Already known (activated first, or registered again): refresh the name only;
            # never move an active family back to "registered".
            session.execute(table.update().where(_key(table, event.family_id, event.commune))
                            .values(family_name=event.family_name, updated_at=now))
    return handle


def on_family_activated(table: sa.Table):
    def handle(session: Session, envelope: Envelope) -> None:
        event = envelope.payload(FamilyActivated)
        now = datetime.now(timezone.utc)
        inserted = _insert_if_absent(session, table, {
            "family_id": event.family_id, "commune": event.commune, "family_name": None,
            "status": ACTIVE, "updated_at": now,
        })
        if not inserted:
            session.execute(table.update().where(_key(table, event.family_id, event.commune))
                            .values(status=ACTIVE, updated_at=now))
    return handle


def install_handlers(worker, table: sa.Table) -> None:
    """Register the two consumers (queues `<service>.families_registered` / `.families_activated`)."""
    worker.handler(SOURCE, FamilyRegistered.EVENT_TYPE, name="families_registered")(on_family_registered(table))
    worker.handler(SOURCE, FamilyActivated.EVENT_TYPE, name="families_activated")(on_family_activated(table))


# --- reading, with the tenancy rules ------------------------------------------------------------
def visible_communes(caller: Caller, communes: list[str], family_id: str) -> list[str] | None:
    """Which of the family's `communes` the caller may see; None means "not this family at all".

    - operator / system: every commune;
    - agent / admin: only their own commune (`caller.commune`);
    - parent: only their own family, every commune it belongs to.
    """
    if caller.role in _PLATFORM_ROLES:
        return list(communes)
    if caller.role in _COMMUNE_ROLES:
        return [c for c in communes if caller.commune and c == caller.commune] or None
    if caller.role == "parent":
        return list(communes) if caller.family_id == family_id else None
    return None


def family_view(rows, family_id: str, caller: Caller) -> dict | None:
    """The family as `caller` may see it from its projection rows, or None (unknown, or not
    theirs: the same answer)."""
    allowed = visible_communes(caller, [r["commune"] for r in rows], family_id) if rows else None
    if not allowed:
        return None
    seen = [r for r in rows if r["commune"] in allowed]
    return {
        "family_id": family_id,
        # The name is the same in every commune; take the first one known.
        "family_name": next((r["family_name"] for r in seen if r["family_name"]), None),
        "communes": [
            {"commune": r["commune"], "status": r["status"], "updated_at": isoformat_utc(r["updated_at"])} for r in seen
        ],
    }


def _select_family(table: sa.Table, family_id: str):
    return sa.select(table).where(table.c.family_id == family_id).order_by(table.c.commune)


def read_family(session: Session, table: sa.Table, family_id: str, caller: Caller) -> dict | None:
    rows = session.execute(_select_family(table, family_id)).mappings().all()
    return family_view(rows, family_id, caller)


# --- HTTP ------------------------------------------------------------------------------------
def install_api(app, table: sa.Table) -> None:
    """Serve GET /internal/families/{family_id} on a service's app (from servicekit.web.create_app)."""
    app.state[_APP_CONFIG_KEY] = table
    app.add_api(SPEC_FILE, name="families_projection", strict_validation=True, validate_responses=False,
                pythonic_params=True)


async def get_family(family_id: str):
    """Operation `servicekit.projections.families.get_family` of families.openapi.yaml."""
    from servicekit import web

    caller = web.current_caller()
    app_state = web.state()
    family = await app_state["db"].run_read(read_family, app_state[_APP_CONFIG_KEY], family_id, caller)
    if family is None:
        raise web.Problem(404, "Cette famille est introuvable ou ne relève pas de votre commune.")
    return family, 200, {"Content-Type": "application/json"}
