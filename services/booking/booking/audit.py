"""The audit trail agents read: every act of an agent (and automatic decisions they answer for).

Entries keep the agent's display name of the time (the service token's `name`) and are read
with the names of the child and family they concern, so agents read names, not ids.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.tokens import Caller
from servicekit.types import isoformat_utc, utcnow

from booking.models import audit_entries, children, families

SYSTEM = "system"
SYSTEM_NAME = "Traitement automatique"


def record(session: Session, commune: str, actor: str | Caller, action: str, **details: Any) -> None:
    """`actor`: the agent's Caller (sub and display name), or a fixed actor such as SYSTEM."""
    sub, name = (actor.sub, actor.name) if isinstance(actor, Caller) else (actor, None)
    clean = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in details.items()}
    session.execute(audit_entries.insert().values(commune=commune, actor=sub, actor_name=name, action=action,
                                                  details=clean, at=utcnow()))


def actor_name(actor: str, name: str | None) -> str | None:
    return SYSTEM_NAME if actor == SYSTEM else name


def children_of(session: Session, child_ids) -> dict[str, Any]:
    """child_id -> (family_id, given_name, family_name) of the children projection."""
    ids = {c for c in child_ids if isinstance(c, str)}
    query = sa.select(children.c.child_id, children.c.family_id, children.c.given_name, children.c.family_name)
    return {r.child_id: r for r in session.execute(query.where(children.c.child_id.in_(ids)))} if ids else {}


def _full_name(child) -> str | None:
    return f"{child.given_name} {child.family_name}" if child is not None else None


def family_names(session: Session, commune: str, family_ids) -> dict[str, str]:
    """The family's name as identity registered it in the commune (None when unknown)."""
    ids = {f for f in family_ids if isinstance(f, str)}
    rows = session.execute(sa.select(families.c.family_id, families.c.family_name).where(
        families.c.commune == commune, families.c.family_id.in_(ids))) if ids else []
    return {r.family_id: r.family_name for r in rows if r.family_name}


def page(session: Session, commune: str, page: int, per_page: int) -> dict:
    base = sa.select(audit_entries).where(audit_entries.c.commune == commune)
    total = session.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(base.order_by(audit_entries.c.at.desc(), audit_entries.c.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).mappings().all()
    kids = children_of(session, (r["details"].get("child_id") for r in rows))

    def child(details: dict):
        child_id = details.get("child_id")
        return kids.get(child_id) if isinstance(child_id, str) else None

    def family_id(details: dict) -> str | None:
        return details.get("family_id") or (child(details).family_id if child(details) else None)

    names = family_names(session, commune, (family_id(r["details"]) for r in rows))
    return {"items": [{"id": r["id"], "at": isoformat_utc(r["at"]), "actor": r["actor"],
                       "actor_name": actor_name(r["actor"], r["actor_name"]), "action": r["action"],
                       "child_name": _full_name(child(r["details"])),
                       "family_name": names.get(family_id(r["details"])), "details": r["details"]} for r in rows],
            "page": page, "per_page": per_page, "total": total}
