"""Who is asking, and what they may see: the tenancy rules of every use case.

- agents (and commune admins) act for `caller.commune` only, and only while identity still says
  they work there (servicekit.projections.agents); anything of another commune is "not found";
- parents act for `caller.family_id` (set by the gateway from the id_token), on their own
  children only, in the communes their family is registered with (families projection).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.projections import agents as agents_projection
from servicekit.tokens import Caller

from booking.models import agents, children, families

AGENT_ROLES = ("agent", "admin")
CHILD_NOT_FOUND = "Cet enfant est introuvable."


def agent_commune(session: Session, caller: Caller) -> str:
    """The commune an agent acts for; 403 for anyone else or an agent identity has removed."""
    if caller.role not in AGENT_ROLES or not caller.commune:
        raise Problem(403, "Cette opération est réservée aux agents de la commune.")
    if agents_projection.agent_access_refused(session, agents, caller):
        raise Problem(403, agents_projection.REFUSAL)
    return caller.commune


def parent_family(caller: Caller) -> str:
    if caller.role != "parent" or not caller.family_id:
        raise Problem(403, "Cette opération est réservée aux familles connectées.")
    return caller.family_id


def family_communes(session: Session, family_id: str) -> list[str]:
    return list(session.execute(sa.select(families.c.commune).where(families.c.family_id == family_id)
                                .order_by(families.c.commune)).scalars())


def family_in_commune(session: Session, family_id: str, commune: str) -> bool:
    return session.execute(sa.select(families.c.family_id).where(
        families.c.family_id == family_id, families.c.commune == commune)).first() is not None


def own_child(session: Session, family_id: str, child_id: str, *, include_removed: bool = False):
    """A child of the parent's family (not one that left it, unless asked), or 404."""
    row = session.execute(sa.select(children).where(children.c.child_id == child_id)).mappings().first()
    if row is None or row["family_id"] != family_id or (row["removed_at"] is not None and not include_removed):
        raise Problem(404, CHILD_NOT_FOUND)
    return row


def commune_child(session: Session, commune: str, child_id: str, *, include_removed: bool = False):
    """A child whose family is registered in the agent's commune, or 404."""
    row = session.execute(
        sa.select(children).join(families, families.c.family_id == children.c.family_id)
        .where(children.c.child_id == child_id, families.c.commune == commune)).mappings().first()
    if row is None or (row["removed_at"] is not None and not include_removed):
        raise Problem(404, CHILD_NOT_FOUND)
    return row
