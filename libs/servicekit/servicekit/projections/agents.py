"""The `agents` projection: who currently works for which commune, as identity says.

The gateway puts the agent's commune in the service token from a session snapshot that can be
hours old. identity publishes `agent.assigned.v1` and `agent.removed.v1`; booking, billing and
requests keep this projection and refuse an agent's call for a commune they no longer work
for. Wired by each service like the families projection:

    agents = define_table(Base.metadata)                   # models.py
    install_handlers(worker, agents)                       # worker.py
    install_check(app, agents)                             # app.py: every agent call is checked

One row per (user, commune). The two events travel on separate queues and may arrive in any
order or twice: each row remembers the time of the latest fact applied (`changed_at`) and an
older fact never overwrites a newer one; at equal times a removal wins.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from contracts.identity import AgentAssigned, AgentRemoved
from servicekit.db import dialect_insert
from servicekit.problems import Problem
from servicekit.tokens import Caller
from servicekit.types import UTCDateTime, utcnow

TABLE = "agents"
SOURCE = "identity"
AGENT_ROLES = ("agent", "admin")
REFUSAL = "Vous n'êtes plus agent de cette commune : reconnectez-vous ou contactez votre mairie."


def define_table(metadata: sa.MetaData) -> sa.Table:
    """Add the `agents` table to a service's metadata (its migrations then create it)."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("user_id", sa.String(64), primary_key=True),   # the agent's public sub
        sa.Column("commune", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        # When the fact this row shows happened (identity's time), to ignore older facts.
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


# --- handlers ----------------------------------------------------------------------------------
def _apply(session: Session, table: sa.Table, user_id: str, commune: str, *, active: bool, role: str | None,
           at: datetime) -> None:
    """Record a fact about (user, commune) unless a newer one is already there."""
    values = {"user_id": user_id, "commune": commune, "active": active, "changed_at": at, "updated_at": utcnow(),
              "role": role or "agent"}
    changes = {"active": active, "changed_at": at, "updated_at": values["updated_at"]}
    if role is not None:
        changes["role"] = role
    # A removal applies at equal times (remove, then the same instant's assignment re-sent).
    newer = table.c.changed_at <= at if not active else table.c.changed_at < at
    stmt = dialect_insert(session, table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.user_id, table.c.commune], set_=changes, where=newer)
    session.execute(stmt)


def on_agent_assigned(table: sa.Table):
    def handle(session: Session, envelope: Envelope) -> None:
        event = envelope.payload(AgentAssigned)
        _apply(session, table, event.user_id, event.commune, active=True, role=event.role, at=event.assigned_at)
    return handle


def on_agent_removed(table: sa.Table):
    def handle(session: Session, envelope: Envelope) -> None:
        event = envelope.payload(AgentRemoved)
        _apply(session, table, event.user_id, event.commune, active=False, role=None, at=event.removed_at)
    return handle


def install_handlers(worker, table: sa.Table) -> None:
    """Register the two consumers (queues `<service>.agents_assigned` / `.agents_removed`)."""
    worker.handler(SOURCE, AgentAssigned.EVENT_TYPE, name="agents_assigned")(on_agent_assigned(table))
    worker.handler(SOURCE, AgentRemoved.EVENT_TYPE, name="agents_removed")(on_agent_removed(table))


# --- the check ---------------------------------------------------------------------------------
def _current_row(table: sa.Table, caller: Caller):
    return (sa.select(table.c.role)
            .where(table.c.user_id == caller.sub, table.c.commune == caller.commune, table.c.active.is_(True)))


def _allowed(caller: Caller, role: str | None) -> bool:
    # An admin claim needs an admin assignment; an agent claim is covered by either.
    return role is not None and (caller.role != "admin" or role == "admin")


def is_current_agent(session, table: sa.Table, caller: Caller) -> bool:
    """True if `caller` acts as agent/admin of `caller.commune` and identity still says so.
    `session`: a SQLAlchemy Session or Connection (sync)."""
    if caller.role not in AGENT_ROLES or not caller.commune:
        return False
    return _allowed(caller, session.execute(_current_row(table, caller)).scalar())


def agent_access_refused(session, table: sa.Table, caller: Caller) -> bool:
    """True if the call must be refused (403, REFUSAL): the caller claims to be an agent of a
    commune that identity says they no longer (or never) work for. Other roles pass."""
    return caller.role in AGENT_ROLES and not is_current_agent(session, table, caller)


# --- the web layer -----------------------------------------------------------------------------
class AgentCheckMiddleware:
    """ASGI middleware placed after connexion's security check (the caller is known) and before
    the operation: an agent or admin claim that identity no longer backs is refused with 403.
    Other callers pass without a query; an agent call costs one primary-key read, in a worker
    thread like the operations' own reads (`Database.run_read`, ADR 0007)."""

    def __init__(self, app, table: sa.Table, db):
        self.app = app
        self.table = table
        self.db = db

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            context = scope.get("extensions", {}).get("connexion_context") or {}
            caller = (context.get("token_info") or {}).get("caller")
            if isinstance(caller, Caller) and caller.role in AGENT_ROLES:
                if await self.db.run_read(agent_access_refused, self.table, caller):
                    raise Problem(403, REFUSAL)
        await self.app(scope, receive, send)


def install_check(app, table: sa.Table) -> None:
    """Check every call of a service app (servicekit.web.create_app) against the projection."""
    from connexion.middleware import MiddlewarePosition

    app.add_middleware(AgentCheckMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION, table=table, db=app.db)
