"""Who is asking and what they may see: the tenancy rules of every use case.

- agents (and commune admins) act for `caller.commune` only, while identity still says they
  work there (servicekit.projections.agents); anything of another commune is "not found";
- parents act for `caller.family_id`, in the communes their family is registered with
  (families projection), on their own children only;
- platform processes (`system`, e.g. booking asking whether a dossier is complete) name the
  commune they ask about.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.problems import Problem
from servicekit.projections import agents as agents_projection
from servicekit.tokens import Caller

from demandes.models import agents, children, families

AGENT_ROLES = ("agent", "admin")
NOT_A_COMMUNE = "Vous n'avez pas accès à cette commune."


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


def parent_commune(session: Session, family_id: str, commune: str) -> str:
    """A commune the parent's family is registered with, or 404 (no hint about others)."""
    if not family_in_commune(session, family_id, commune):
        raise Problem(404, "Votre famille n'est pas inscrite auprès de cette commune.")
    return commune


def family_children(session: Session, family_id: str) -> list[dict]:
    rows = session.execute(sa.select(children.c.child_id, children.c.given_name, children.c.family_name)
                           .where(children.c.family_id == family_id, children.c.removed_at.is_(None))
                           .order_by(children.c.given_name)).mappings()
    return [dict(r) for r in rows]


def own_child(session: Session, family_id: str, child_id: str) -> None:
    if child_id not in {c["child_id"] for c in family_children(session, family_id)}:
        raise Problem(404, "Cet enfant n'est pas un enfant de votre famille.")
