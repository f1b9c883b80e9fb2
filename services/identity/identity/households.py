"""Accounts and households: the use cases, one function each, framework-free.

Every function takes the caller's SQLAlchemy session (the caller owns the transaction, so a
change, its events in the outbox and its audit entries commit together) and returns plain
dicts (see household_views). Refusals are `identity.errors` exceptions with French messages.

Who may do what:
- agents act for the commune of their service token (`caller.commune`) and must really be
  agents of it; they only ever see families associated with that commune;
- parents act on the family their login (`caller.sub`) belongs to, never on one named in a request;
- link holders (activation, invitation) act through the single-use token.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.identity import (ActivationIssued, FamilyActivated, FamilyRegistered, GuardianInvited,
                                PasswordChanged)
from servicekit.messaging.outbox import add_event
from servicekit.tokens import Caller

from identity import audit, passwords, profile_rules
from identity.errors import Conflict, DeadLink, InvalidInput, NotAllowed, NotFound
from identity.household_views import (agent_family_view, child_view, commune_view, guardian_view,
                                      invitation_view, iso, link_view)
from identity.links import (DEAD_LINK_MESSAGES, INVITATION_DEAD_LINK_MESSAGES, UNKNOWN_LINK_MESSAGE, expiry,
                            hash_token, link_state, link_url, new_token)
from identity.models import (Activation, AgentAssignment, AuditEntry, Child, Commune, Family, FamilyCommune,
                             Guardian, Invitation, User, utcnow)

SOURCE = "identity"
AGENT_ROLES = ("agent", "admin")


# --- who is asking -----------------------------------------------------------------------------
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


def _me(session: Session, caller: Caller) -> tuple[User, Guardian]:
    user = user_by_sub(session, caller.sub)
    guardian = guardian_of(session, user) if user is not None and user.is_active else None
    if guardian is None:
        raise NotFound("Aucune famille n'est rattachée à ce compte.")
    return user, guardian


def _password_refusal(password: str, email: str) -> str | None:
    """The password rules of identity.passwords, as one French message (None: accepted)."""
    return " ".join(passwords.check_policy(password, email)) or None


# --- communes ----------------------------------------------------------------------------------
def list_communes(session: Session) -> list[dict]:
    return [commune_view(c) for c in session.scalars(sa.select(Commune).order_by(Commune.name))]


def get_commune(session: Session, slug: str) -> dict:
    commune = session.get(Commune, slug)
    if commune is None:
        raise NotFound("Cette commune n'existe pas.")
    return commune_view(commune)


# --- agents: registering families ----------------------------------------------------------------
def register_family(session: Session, settings, caller: Caller, data: dict[str, Any],
                    now: datetime | None = None) -> dict:
    """Register a family for the agent's commune and issue its activation link.

    The e-mail is the login: if it already has an account, no second one is made; the pending
    association goes to that account's family (made if it has none) and the parent confirms by
    signing in.
    """
    now = now or utcnow()
    agent, commune = agent_commune(session, caller)
    family_name, email = profile_rules.check_registration(data)
    user = user_by_email(session, email)
    if user is None:
        user = User(email=email, is_active=False)
        session.add(user)
        session.flush()
    guardian = guardian_of(session, user)
    if guardian is None:
        family = Family(name=family_name)
        guardian = Guardian(family=family, user_id=user.id, email=email, family_name=family_name, is_primary=True)
        session.add_all([family, guardian])
        session.flush()
    association = session.get(FamilyCommune, (guardian.family_id, commune.slug))
    if association is not None:
        if association.status == "active":
            raise Conflict("Cette famille a déjà un compte actif dans votre commune.", family_id=guardian.family_id)
        raise Conflict("Cette famille est déjà enregistrée et n'a pas encore activé son compte : "
                       "renvoyez-lui le lien d'activation si besoin.", family_id=guardian.family_id)
    association = FamilyCommune(family_id=guardian.family_id, commune_slug=commune.slug, status="pending",
                                registered_name=family_name, registered_by=caller.sub, registered_at=now)
    session.add(association)
    session.flush()
    add_event(session, SOURCE, FamilyRegistered(family_id=guardian.family_id, commune=commune.slug,
                                                family_name=family_name, email=email))
    activation = _issue_activation(session, settings, association, user, email, caller.sub, resend=False, now=now)
    audit.record(session, "family.registered", actor_user_id=agent.id, subject_user_id=user.id,
                 commune_slug=commune.slug, family_id=guardian.family_id, existing_account=activation.existing_account)
    return agent_family_view(association, email, activation, now)


def resend_activation(session: Session, settings, caller: Caller, family_id: str,
                      now: datetime | None = None) -> dict:
    """A new link; the previous one stops working at once."""
    now = now or utcnow()
    agent, commune = agent_commune(session, caller)
    association = _association(session, family_id, commune)
    if association.status == "active":
        raise Conflict("Cette famille a déjà activé son compte : aucun lien à renvoyer.")
    latest = _latest_activation(session, family_id, commune.slug)
    if latest is None:
        raise NotFound("Aucun lien d'activation n'a été créé pour cette famille.")
    user = session.get(User, latest.user_id)
    activation = _issue_activation(session, settings, association, user, latest.email, caller.sub, resend=True, now=now)
    audit.record(session, "activation.resent", actor_user_id=agent.id, subject_user_id=user.id,
                 commune_slug=commune.slug, family_id=family_id)
    return agent_family_view(association, activation.email, activation, now)


def _issue_activation(session: Session, settings, association: FamilyCommune, user: User, email: str,
                      created_by: str, *, resend: bool, now: datetime) -> Activation:
    session.execute(
        sa.update(Activation)
        .where(Activation.family_id == association.family_id, Activation.commune_slug == association.commune_slug,
               Activation.used_at.is_(None), Activation.superseded_at.is_(None))
        .values(superseded_at=now)
    )
    token, token_hash = new_token()
    activation = Activation(family_id=association.family_id, commune_slug=association.commune_slug, user_id=user.id,
                            email=email, token_hash=token_hash, expires_at=expiry(now, settings.activation_ttl_hours),
                            created_by=created_by, created_at=now, existing_account=user.is_active)
    session.add(activation)
    session.flush()
    envelope = add_event(session, SOURCE, ActivationIssued(
        activation_id=activation.id, family_id=association.family_id, commune=association.commune_slug,
        commune_name=association.commune.name, family_name=association.registered_name, email=email,
        link=link_url(settings.public_url, "activation", token), expires_at=activation.expires_at,
        existing_account=activation.existing_account, resend=resend))
    activation.source_event_id = envelope.id
    return activation


def _association(session: Session, family_id: str, commune: Commune) -> FamilyCommune:
    association = session.get(FamilyCommune, (family_id, commune.slug))
    if association is None:  # another commune's family looks exactly like a missing one
        raise NotFound("Cette famille n'existe pas dans votre commune.")
    return association


def _latest_activation(session: Session, family_id: str, commune_slug: str) -> Activation | None:
    return session.scalars(
        sa.select(Activation).where(Activation.family_id == family_id, Activation.commune_slug == commune_slug)
        .order_by(Activation.created_at.desc()).limit(1)
    ).first()


# --- agents: reading ---------------------------------------------------------------------------
def list_families(session: Session, caller: Caller, q: str | None = None, status: str | None = None,
                  page: int = 1, per_page: int = 25, now: datetime | None = None) -> dict:
    now = now or utcnow()
    _agent, commune = agent_commune(session, caller)
    query = (sa.select(FamilyCommune).join(Family, Family.id == FamilyCommune.family_id)
             .where(FamilyCommune.commune_slug == commune.slug))
    if status:
        query = query.where(FamilyCommune.status == status)
    if q and q.strip():
        needle = q.strip().lower()
        emails = sa.select(Activation.family_id).where(
            Activation.commune_slug == commune.slug, sa.func.lower(Activation.email).contains(needle, autoescape=True))
        # An active family is found by its current name, a pending one only by what this commune typed.
        query = query.where(sa.or_(
            sa.func.lower(FamilyCommune.registered_name).contains(needle, autoescape=True),
            sa.and_(FamilyCommune.status == "active", sa.func.lower(Family.name).contains(needle, autoescape=True)),
            FamilyCommune.family_id.in_(emails),
        ))
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(sa.func.lower(FamilyCommune.registered_name), FamilyCommune.family_id)
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    items = []
    for association in rows:
        latest = _latest_activation(session, association.family_id, commune.slug)
        items.append(agent_family_view(association, _login_email(session, association, latest), latest, now))
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def get_family(session: Session, caller: Caller, family_id: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    _agent, commune = agent_commune(session, caller)
    association = _association(session, family_id, commune)
    activations = session.scalars(
        sa.select(Activation).where(Activation.family_id == family_id, Activation.commune_slug == commune.slug)
        .order_by(Activation.created_at.desc())
    ).all()
    latest = activations[0] if activations else None
    view = agent_family_view(association, _login_email(session, association, latest), latest, now)
    active = association.status == "active"
    view["guardians"] = [guardian_view(g) for g in association.family.guardians] if active else []
    view["children"] = [child_view(c) for c in association.family.children] if active else []
    view["activations"] = [link_view(a, now) for a in activations]
    return view


def _login_email(session: Session, association: FamilyCommune, latest: Activation | None) -> str | None:
    if latest is not None:
        return latest.email
    primary = session.scalars(sa.select(Guardian).where(Guardian.family_id == association.family_id,
                                                        Guardian.is_primary.is_(True))).first()
    return primary.user.email if primary is not None and primary.user is not None else None


def list_audit(session: Session, caller: Caller, page: int = 1, per_page: int = 50) -> dict:
    _agent, commune = agent_commune(session, caller)
    query = sa.select(AuditEntry).where(AuditEntry.commune_slug == commune.slug)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    entries = session.scalars(query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page))
    items = [{"id": e.id, "at": iso(e.at), "action": e.action, "actor_user_id": e.actor_user_id,
              "subject_user_id": e.subject_user_id, "details": e.details or {}} for e in entries]
    return {"items": items, "page": page, "per_page": per_page, "total": total}


# --- activation by link --------------------------------------------------------------------------
def _live_activation(session: Session, token: str, now: datetime) -> Activation:
    activation = session.scalars(
        sa.select(Activation).where(Activation.token_hash == hash_token(token)).with_for_update()
    ).first()
    if activation is None:
        raise NotFound(UNKNOWN_LINK_MESSAGE)
    state = link_state(now, activation.expires_at, activation.used_at, activation.superseded_at)
    if state != "valid":
        raise DeadLink(DEAD_LINK_MESSAGES[state], state)
    return activation


def _activation_step(activation: Activation, user: User) -> str:
    if user.is_active:
        return "confirm"
    return "password" if activation.profile else "profile"


def get_activation(session: Session, token: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    user = session.get(User, activation.user_id)
    association = session.get(FamilyCommune, (activation.family_id, activation.commune_slug))
    return {
        "state": "valid",
        "step": _activation_step(activation, user),
        "commune": commune_view(association.commune),
        "family_name": association.registered_name,
        "email": activation.email,
        "existing_account": user.is_active,
        "expires_at": iso(activation.expires_at),
        "profile": activation.profile,
    }


def submit_activation_profile(session: Session, token: str, data: dict[str, Any],
                              now: datetime | None = None) -> dict:
    """Step 1/2: kept on the link until the password is set (an abandoned activation changes nothing)."""
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    if session.get(User, activation.user_id).is_active:
        raise Conflict("Un compte existe déjà pour cette adresse e-mail : connectez-vous pour confirmer.")
    activation.profile = profile_rules.check_profile(data, activation.email, now.date())
    activation.profile_submitted_at = now
    session.flush()
    return get_activation(session, token, now)


def submit_activation_password(session: Session, token: str, password: str | None,
                               now: datetime | None = None) -> dict:
    """Step 2/2: the account, the family's profile and the commune association become active."""
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    user = session.get(User, activation.user_id)
    if user.is_active:
        raise Conflict("Un compte existe déjà pour cette adresse e-mail : connectez-vous pour confirmer.")
    if not activation.profile:
        raise Conflict("Complétez d'abord vos informations (étape 1 sur 2).")
    if not password:
        raise InvalidInput({"password": profile_rules.REQUIRED})
    refusal = _password_refusal(password, user.email)
    if refusal:
        raise InvalidInput({"password": refusal})
    profile = activation.profile
    user.given_name, user.family_name = profile["given_name"], profile["family_name"]
    user.birth_date = date.fromisoformat(profile["birth_date"])
    user.phone = profile["phone"]
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    user.is_active = True
    guardian = guardian_of(session, user)
    guardian.given_name, guardian.family_name = profile["given_name"], profile["family_name"]
    guardian.email, guardian.phone = guardian.email or user.email, profile["phone"]
    guardian.street, guardian.postcode, guardian.city = profile["street"], profile["postcode"], profile["city"]
    add_event(session, SOURCE, PasswordChanged(user_id=user.sub, email=user.email, given_name=user.given_name,
                                               changed_at=now, reason="activation"))
    return _join_commune(session, activation, user, now, action="account.activated")


def confirm_activation(session: Session, caller: Caller, token: str, now: datetime | None = None) -> dict:
    """An existing account joins the commune; the caller must be the signed-in owner of the e-mail."""
    now = now or utcnow()
    activation = _live_activation(session, token, now)
    user = user_by_sub(session, caller.sub)
    if user is None or user.email != activation.email.lower():
        raise NotAllowed("Ce lien a été envoyé à une autre adresse e-mail : connectez-vous avec le compte "
                         f"de l'adresse {activation.email}.")
    if not user.is_active:
        raise Conflict("Terminez d'abord l'activation de votre compte.")
    guardian = guardian_of(session, user)
    if guardian is None or guardian.family_id != activation.family_id:
        raise Conflict("Votre compte n'est plus rattaché à la famille enregistrée par la commune : "
                       "contactez votre mairie.")
    return _join_commune(session, activation, user, now, action="commune.joined")


def _join_commune(session: Session, activation: Activation, user: User, now: datetime, action: str) -> dict:
    association = session.get(FamilyCommune, (activation.family_id, activation.commune_slug))
    association.status, association.activated_at = "active", now
    activation.used_at = now
    add_event(session, SOURCE, FamilyActivated(family_id=activation.family_id, commune=activation.commune_slug,
                                               user_id=user.sub))
    audit.record(session, action, actor_user_id=user.id, subject_user_id=user.id,
                 commune_slug=activation.commune_slug, family_id=activation.family_id)
    return {"sub": user.sub, "email": user.email, "family_id": activation.family_id,
            "commune": commune_view(association.commune)}


# --- the family space --------------------------------------------------------------------------
def family_claims(db_session: Session, user: User) -> dict:
    """For id_tokens and userinfo: the user's family and its active communes."""
    guardian = guardian_of(db_session, user)
    if guardian is None:
        return {"family_id": None, "communes": []}
    rows = db_session.execute(
        sa.select(Commune.slug, Commune.name).join(FamilyCommune, FamilyCommune.commune_slug == Commune.slug)
        .where(FamilyCommune.family_id == guardian.family_id, FamilyCommune.status == "active")
        .order_by(Commune.name)
    ).all()
    return {"family_id": guardian.family_id, "communes": [{"slug": s, "name": n} for s, n in rows]}


def get_household(session: Session, caller: Caller, now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = _me(session, caller)
    family = guardian.family
    invitations = session.scalars(
        sa.select(Invitation).where(Invitation.family_id == family.id).order_by(Invitation.created_at.desc())
    ).all()
    return {
        "family": {"id": family.id, "name": family.name, "login_email": user.email},
        "communes": [{**commune_view(a.commune), "status": a.status}
                     for a in sorted(family.communes, key=lambda a: a.commune.name)],
        "guardians": [guardian_view(g, user.id) for g in family.guardians],
        "children": [child_view(c) for c in family.children],
        "invitations": [invitation_view(i, now) for i in invitations],
    }


def update_family(session: Session, caller: Caller, data: dict[str, Any]) -> dict:
    user, guardian = _me(session, caller)
    name = profile_rules.check_family_name(data)
    guardian.family.name = name
    audit.record(session, "family.updated", actor_user_id=user.id, subject_user_id=user.id,
                 family_id=guardian.family_id, fields=["name"])
    session.flush()
    return get_household(session, caller)


def update_guardian(session: Session, caller: Caller, guardian_id: str, data: dict[str, Any]) -> dict:
    """A guardian's own contact data; the home address changes only through an accepted request."""
    user, me = _me(session, caller)
    target = session.get(Guardian, guardian_id)
    if target is None or target.family_id != me.family_id:
        raise NotFound("Ce responsable n'existe pas dans votre famille.")
    if target.id != me.id:
        raise NotAllowed("Vous ne pouvez modifier que vos propres coordonnées.")
    changes = profile_rules.check_contact(data)
    for field, value in changes.items():
        setattr(target, field, value)
    audit.record(session, "guardian.updated", actor_user_id=user.id, subject_user_id=user.id,
                 family_id=me.family_id, fields=sorted(changes))
    session.flush()
    return guardian_view(target, user.id)


def add_child(session: Session, caller: Caller, data: dict[str, Any], now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = _me(session, caller)
    fields = profile_rules.check_child(data, now.date(), creating=True)
    child = Child(family_id=guardian.family_id, **fields)
    session.add(child)
    session.flush()
    audit.record(session, "child.added", actor_user_id=user.id, family_id=guardian.family_id, child_id=child.id)
    return child_view(child)


def update_child(session: Session, caller: Caller, child_id: str, data: dict[str, Any],
                 now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = _me(session, caller)
    child = session.get(Child, child_id)
    if child is None or child.family_id != guardian.family_id:
        raise NotFound("Cet enfant n'existe pas dans votre famille.")
    fields = profile_rules.check_child(data, now.date(), creating=False)
    for field, value in fields.items():
        setattr(child, field, value)
    audit.record(session, "child.updated", actor_user_id=user.id, family_id=guardian.family_id, child_id=child.id,
                 fields=sorted(fields))
    session.flush()
    return child_view(child)


def apply_address_change(session: Session, family_id: str, *, guardian_id: str | None = None,
                         child_id: str | None = None, address: dict[str, Any]) -> None:
    """Set a responsable's home address or a child's alternate address: the only way they
    change, called when a request (demande) asking for it is accepted."""
    if (guardian_id is None) == (child_id is None):
        raise ValueError("name exactly one of guardian_id and child_id")
    clean = profile_rules.check_address(address)
    if guardian_id is not None:
        guardian = session.get(Guardian, guardian_id)
        if guardian is None or guardian.family_id != family_id:
            raise NotFound("Ce responsable n'existe pas dans cette famille.")
        guardian.street, guardian.postcode, guardian.city = clean["street"], clean["postcode"], clean["city"]
    else:
        child = session.get(Child, child_id)
        if child is None or child.family_id != family_id:
            raise NotFound("Cet enfant n'existe pas dans cette famille.")
        child.alternate_street, child.alternate_postcode, child.alternate_city = (
            clean["street"], clean["postcode"], clean["city"])
    audit.record(session, "address.changed", family_id=family_id, guardian_id=guardian_id, child_id=child_id)


# --- second guardian -----------------------------------------------------------------------------
def invite_guardian(session: Session, settings, caller: Caller, data: dict[str, Any],
                    now: datetime | None = None) -> dict:
    now = now or utcnow()
    user, guardian = _me(session, caller)
    email = profile_rules.check_invitation_email(data)
    already = session.scalars(
        sa.select(Guardian).join(User, User.id == Guardian.user_id)
        .where(Guardian.family_id == guardian.family_id, User.email == email)
    ).first()
    if already is not None:
        raise Conflict("Cette personne est déjà responsable de votre famille.")
    session.execute(
        sa.update(Invitation)
        .where(Invitation.family_id == guardian.family_id, Invitation.email == email,
               Invitation.used_at.is_(None), Invitation.superseded_at.is_(None))
        .values(superseded_at=now)
    )
    token, token_hash = new_token()
    invitation = Invitation(family_id=guardian.family_id, email=email, invited_by=user.id, token_hash=token_hash,
                            expires_at=expiry(now, settings.activation_ttl_hours), created_at=now)
    session.add(invitation)
    session.flush()
    envelope = add_event(session, SOURCE, GuardianInvited(
        invitation_id=invitation.id, family_id=guardian.family_id, family_name=guardian.family.name, email=email,
        inviter_name=user.display_name, link=link_url(settings.public_url, "invitation", token),
        expires_at=invitation.expires_at))
    invitation.source_event_id = envelope.id
    audit.record(session, "guardian.invited", actor_user_id=user.id, family_id=guardian.family_id,
                 invitation_id=invitation.id)
    return invitation_view(invitation, now)


def _live_invitation(session: Session, token: str, now: datetime) -> Invitation:
    invitation = session.scalars(
        sa.select(Invitation).where(Invitation.token_hash == hash_token(token)).with_for_update()
    ).first()
    if invitation is None:
        raise NotFound(UNKNOWN_LINK_MESSAGE)
    state = link_state(now, invitation.expires_at, invitation.used_at, invitation.superseded_at)
    if state != "valid":
        raise DeadLink(INVITATION_DEAD_LINK_MESSAGES[state], state)
    return invitation


def get_invitation(session: Session, token: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    invitation = _live_invitation(session, token, now)
    existing = user_by_email(session, invitation.email)
    has_account = bool(existing and existing.is_active)
    inviter = session.get(User, invitation.invited_by)
    return {
        "state": "valid",
        "step": "confirm" if has_account else "accept",
        "family_name": session.get(Family, invitation.family_id).name,
        "email": invitation.email,
        "inviter_name": inviter.display_name,
        "existing_account": has_account,
        "expires_at": iso(invitation.expires_at),
    }


def accept_invitation(session: Session, token: str, data: dict[str, Any], now: datetime | None = None) -> dict:
    """The invited adult creates their own login, linked as a guardian of the same family."""
    now = now or utcnow()
    invitation = _live_invitation(session, token, now)
    user = user_by_email(session, invitation.email)
    if user is not None and user.is_active:
        raise Conflict("Un compte existe déjà pour cette adresse e-mail : connectez-vous pour accepter l'invitation.")
    if user is not None and guardian_of(session, user) is not None:
        raise Conflict("Cette adresse e-mail est déjà rattachée à une autre famille : contactez votre mairie.")
    profile = profile_rules.check_invitation_profile(data, now.date())
    refusal = _password_refusal(data["password"], invitation.email)
    if refusal:
        raise InvalidInput({"password": refusal})
    if user is None:
        user = User(email=invitation.email)
        session.add(user)
    user.given_name, user.family_name, user.phone = profile["given_name"], profile["family_name"], profile["phone"]
    user.birth_date = profile["birth_date"]
    user.password_hash = passwords.hash_password(data["password"])
    user.password_changed_at = now
    user.is_active = True
    session.flush()
    add_event(session, SOURCE, PasswordChanged(user_id=user.sub, email=user.email, given_name=user.given_name,
                                               changed_at=now, reason="activation"))
    return _join_family(session, invitation, user, now)


def confirm_invitation(session: Session, caller: Caller, token: str, now: datetime | None = None) -> dict:
    """An existing account (the signed-in owner of the invited e-mail) joins the family."""
    now = now or utcnow()
    invitation = _live_invitation(session, token, now)
    user = user_by_sub(session, caller.sub)
    if user is None or user.email != invitation.email:
        raise NotAllowed("Cette invitation a été envoyée à une autre adresse e-mail : connectez-vous avec le "
                         f"compte de l'adresse {invitation.email}.")
    if not user.is_active:
        raise Conflict("Terminez d'abord l'activation de votre compte.")
    current = guardian_of(session, user)
    if current is not None:
        if current.family_id == invitation.family_id:
            raise Conflict("Vous êtes déjà responsable de cette famille.")
        raise Conflict("Votre compte est déjà rattaché à une autre famille : contactez votre mairie.")
    return _join_family(session, invitation, user, now)


def _join_family(session: Session, invitation: Invitation, user: User, now: datetime) -> dict:
    session.add(Guardian(family_id=invitation.family_id, user_id=user.id, given_name=user.given_name,
                         family_name=user.family_name, email=user.email, phone=user.phone, is_primary=False))
    invitation.used_at, invitation.accepted_user_id = now, user.id
    audit.record(session, "guardian.joined", actor_user_id=user.id, subject_user_id=user.id,
                 family_id=invitation.family_id, invitation_id=invitation.id)
    session.flush()
    return {"sub": user.sub, "email": user.email, "family_id": invitation.family_id}


# --- notify's receipts ---------------------------------------------------------------------------
def _links_announced_by(session: Session, source_event_id: str) -> list:
    return [row for model in (Activation, Invitation)
            for row in session.scalars(sa.select(model).where(model.source_event_id == source_event_id))]


def record_notification_sent(session: Session, source_event_id: str, sent_at: datetime) -> bool:
    """notify says the e-mail answering one of our events left: the agent (or inviter) sees it.
    True if it matched a link. The first receipt wins (a re-delivery changes nothing)."""
    rows = _links_announced_by(session, source_event_id)
    for row in rows:
        if row.sent_at is None:
            row.sent_at = sent_at
    return bool(rows)


def record_notification_failed(session: Session, source_event_id: str, failed_at: datetime, error: str) -> bool:
    """notify gave up on the e-mail of one of our links: the agent sees it failed, checks the
    address and re-sends. A link already marked sent stays sent (a late failure of a duplicate)."""
    rows = _links_announced_by(session, source_event_id)
    for row in rows:
        if row.sent_at is None and row.send_failed_at is None:
            row.send_failed_at = failed_at
            row.send_error = error[:2000]
    return bool(rows)
