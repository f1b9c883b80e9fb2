"""Who is asking: the agent and their commune, the signed-in guardian, accounts by sub or e-mail.

Shared by the use-case modules of this package (see its docstring for who may do what).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.tokens import Caller

from identity import passwords
from identity.errors import NotAllowed, NotFound
from identity.models import AgentAssignment, Commune, Guardian, User

SOURCE = "identity"
AGENT_ROLES = ("agent", "admin")


def user_by_sub(session: Session, sub: str) -> User | None:
    return session.scalars(sa.select(User).where(User.sub == sub)).first()


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(sa.select(User).where(User.email == email.lower())).first()


def guardian_of(session: Session, user: User) -> Guardian | None:
    return session.scalars(sa.select(Guardian).where(Guardian.user_id == user.id)).first()


def agent_commune(session: Session, caller: Caller) -> tuple[User, Commune]:
    """The agent and the commune they act for; refused unless identity knows them as its agent."""
    if caller.role not in AGENT_ROLES or not caller.commune:
        raise NotAllowed("Cette action est réservée aux agents de la commune.")
    agent = user_by_sub(session, caller.sub)
    if agent is None or session.get(AgentAssignment, (agent.id, caller.commune)) is None:
        raise NotAllowed("Vous n'êtes pas agent de cette commune.")
    commune = session.get(Commune, caller.commune)
    if commune is None:
        raise NotAllowed("Vous n'êtes pas agent de cette commune.")
    return agent, commune


def signed_in_guardian(session: Session, caller: Caller) -> tuple[User, Guardian]:
    user = user_by_sub(session, caller.sub)
    guardian = guardian_of(session, user) if user is not None and user.is_active else None
    if guardian is None:
        raise NotFound("Aucune famille n'est rattachée à ce compte.")
    return user, guardian


def password_refusal(password: str, email: str) -> str | None:
    """The password rules of identity.passwords, as one French message (None: accepted)."""
    return " ".join(passwords.check_policy(password, email)) or None
