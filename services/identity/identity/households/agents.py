"""Agents: registering families for their commune, re-sending links, reading their families
and their commune's audit journal. Agents only ever see families associated with their commune."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager

from contracts.identity import ActivationIssued, FamilyRegistered
from servicekit.messaging.outbox import add_event
from servicekit.tokens import Caller

from identity import audit, profile_rules
from identity.errors import Conflict, NotFound
from identity.household_views import agent_family_view, child_view, guardian_view, iso, link_view
from identity.households import facts
from identity.households.callers import SOURCE, agent_commune, guardian_of, user_by_email
from identity.links import expiry, link_url, new_token
from identity.models import Activation, AuditEntry, Commune, Family, FamilyCommune, Guardian, User, utcnow


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
        facts.guardian_added(session, guardian, user, now)
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
        query.options(contains_eager(FamilyCommune.family))
        .order_by(sa.func.lower(FamilyCommune.registered_name), FamilyCommune.family_id)
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    # Two queries for the whole page (latest links, then logins of families without one), not per row.
    family_ids = [a.family_id for a in rows]
    latest = _latest_activations(session, family_ids, commune.slug)
    logins = _primary_login_emails(session, [f for f in family_ids if f not in latest])
    items = [agent_family_view(a, latest[a.family_id].email if a.family_id in latest else logins.get(a.family_id),
                               latest.get(a.family_id), now) for a in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _latest_activations(session: Session, family_ids: list[str], commune_slug: str) -> dict[str, Activation]:
    """family id -> its latest activation link in this commune (families without one are absent)."""
    if not family_ids:
        return {}
    ranked = (sa.select(Activation.id, sa.func.row_number().over(
        partition_by=Activation.family_id, order_by=(Activation.created_at.desc(), Activation.id.desc()),
    ).label("rank")).where(Activation.commune_slug == commune_slug, Activation.family_id.in_(family_ids))
              .subquery())
    rows = session.scalars(sa.select(Activation).join(ranked, ranked.c.id == Activation.id).where(ranked.c.rank == 1))
    return {row.family_id: row for row in rows}


def _primary_login_emails(session: Session, family_ids: list[str]) -> dict[str, str]:
    """family id -> the login e-mail of its primary guardian."""
    if not family_ids:
        return {}
    rows = session.execute(
        sa.select(Guardian.family_id, User.email).join(User, User.id == Guardian.user_id)
        .where(Guardian.family_id.in_(family_ids), Guardian.is_primary.is_(True)))
    return dict(rows.all())


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
