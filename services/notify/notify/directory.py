"""Who notify writes to: its own copy of identity's facts (addresses, families, agents, names).

Events from booking, billing and requests name a family, a child or a commune, never an
address. Notify keeps, from identity's events (each on its own queue, in any order, possibly
twice; a newer fact is never overwritten by an older one):

- `user_emails`: a user's current address, from every identity event carrying (user_id, email):
  password changed (activation and invitation acceptance send one), reset requested, TOTP link;
- `family_guardians`: the family's responsables, from guardian.added/removed and
  family.activated (the account that activated it); their address is the event's own `email`
  when it carries one, else the user's address above;
- `family_contacts`: the login e-mail the family was registered with, used only while no
  guardian's address is known;
- servicekit's `families` and `agents` projections: communes of a family, agents of a commune
  (agents' addresses come from `user_emails`: agent.assigned.v1 carries none);
- `communes` (names, from activation.issued) and `children` (first names).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from contracts.identity import (ActivationIssued, ChildAdded, ChildUpdated, FamilyActivated, FamilyRegistered,
                               GuardianAdded, GuardianRemoved, PasswordChanged, PasswordResetRequested,
                               TotpEnrolmentRequested)
from servicekit.db import dialect_insert
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

from notify.models import agents, children, communes, families, family_contacts, family_guardians, user_emails

SOURCE = "identity"


@dataclass(frozen=True)
class Recipient:
    email: str
    user_id: str | None = None      # whose preferences apply (None: an address without account)
    given_name: str | None = None


# --- writing -------------------------------------------------------------------------------------
def _upsert_newer(session: Session, table: sa.Table, values: dict, keys: list[str]) -> None:
    """Insert, or update the row unless it already holds a newer fact (`changed_at`)."""
    stmt = dialect_insert(session, table).values(**values)
    changes = {k: stmt.excluded[k] for k in values if k not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=changes,
                                               where=table.c.changed_at <= stmt.excluded.changed_at))


def remember_email(session: Session, user_id: str, email: str, given_name: str | None, at: datetime) -> None:
    _upsert_newer(session, user_emails, {"user_id": user_id, "email": email.strip(), "given_name": given_name,
                                         "changed_at": at}, ["user_id"])


def _on_user_fact(model):
    def handle(session: Session, envelope: Envelope) -> None:
        event = envelope.payload(model)
        at = getattr(event, "changed_at", None) or envelope.time
        remember_email(session, event.user_id, event.email, event.given_name, at)
    return handle


def _on_guardian_added(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(GuardianAdded)
    # identity may add the guardian's address to the event: use it when it is there.
    email = envelope.data.get("email") or None
    _upsert_newer(session, family_guardians, {
        "family_id": event.family_id, "guardian_key": event.guardian_id, "user_id": event.user_id,
        "email": email, "active": True, "changed_at": event.changed_at}, ["family_id", "guardian_key"])


def _on_guardian_removed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(GuardianRemoved)
    g = family_guardians.c
    known = session.execute(sa.select(g.user_id, g.email).where(
        g.family_id == event.family_id, g.guardian_key == event.guardian_id)).first()
    user_id, email = known if known else (None, None)
    _upsert_newer(session, family_guardians, {
        "family_id": event.family_id, "guardian_key": event.guardian_id, "user_id": user_id, "email": email,
        "active": False, "changed_at": event.changed_at}, ["family_id", "guardian_key"])
    # The same person may also be known through family.activated ("user:<sub>"): off too.
    if user_id:
        session.execute(family_guardians.update().where(
            g.family_id == event.family_id, g.guardian_key == f"user:{user_id}", g.changed_at <= event.changed_at
        ).values(active=False, changed_at=event.changed_at))


def _on_family_activated(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(FamilyActivated)
    session.execute(dialect_insert(session, family_guardians).values(
        family_id=event.family_id, guardian_key=f"user:{event.user_id}", user_id=event.user_id, email=None,
        active=True, changed_at=envelope.time).on_conflict_do_nothing())


def _on_family_registered(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(FamilyRegistered)
    _upsert_newer(session, family_contacts, {"family_id": event.family_id, "email": event.email.strip(),
                                             "changed_at": envelope.time}, ["family_id"])


def _on_activation_issued(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(ActivationIssued)
    stmt = dialect_insert(session, communes).values(slug=event.commune, name=event.commune_name)
    session.execute(stmt.on_conflict_do_update(index_elements=[communes.c.slug], set_={"name": stmt.excluded.name}))


def _on_child(model):
    def handle(session: Session, envelope: Envelope) -> None:
        event = envelope.payload(model)
        _upsert_newer(session, children, {"child_id": event.child_id, "family_id": event.family_id,
                                          "given_name": event.given_name, "changed_at": event.changed_at},
                      ["child_id"])
    return handle


HANDLERS = {
    "directory_password_changed": (PasswordChanged, _on_user_fact(PasswordChanged)),
    "directory_password_reset": (PasswordResetRequested, _on_user_fact(PasswordResetRequested)),
    "directory_totp_enrolment": (TotpEnrolmentRequested, _on_user_fact(TotpEnrolmentRequested)),
    "directory_guardian_added": (GuardianAdded, _on_guardian_added),
    "directory_guardian_removed": (GuardianRemoved, _on_guardian_removed),
    "directory_family_activated": (FamilyActivated, _on_family_activated),
    "directory_family_registered": (FamilyRegistered, _on_family_registered),
    "directory_commune_named": (ActivationIssued, _on_activation_issued),
    "directory_child_added": (ChildAdded, _on_child(ChildAdded)),
    "directory_child_updated": (ChildUpdated, _on_child(ChildUpdated)),
}


def install_handlers(worker) -> None:
    for name, (model, handle) in HANDLERS.items():
        worker.handler(SOURCE, model.EVENT_TYPE, name=name)(handle)
    families_projection.install_handlers(worker, families)
    agents_projection.install_handlers(worker, agents)


# --- reading -------------------------------------------------------------------------------------
def _unique(recipients: list[Recipient]) -> list[Recipient]:
    seen, out = set(), []
    for r in recipients:
        if r.email and r.email.lower() not in seen:
            seen.add(r.email.lower())
            out.append(r)
    return out


def family_recipients(session: Session, family_id: str) -> list[Recipient]:
    """The family's current responsables. One whose own address notify has not learnt (the first
    responsable, known from family.activated until an event carries their address) is written to
    at the registration address, which is that first responsable's login e-mail; with no current
    responsable known yet, the registration address alone."""
    g, u = family_guardians.c, user_emails.c
    rows = session.execute(
        sa.select(g.user_id, sa.func.coalesce(g.email, u.email).label("email"), u.given_name)
        .select_from(family_guardians.outerjoin(user_emails, u.user_id == g.user_id))
        .where(g.family_id == family_id, g.active.is_(True))
        .order_by(g.changed_at, g.guardian_key)).all()
    contact = session.execute(sa.select(family_contacts.c.email).where(family_contacts.c.family_id == family_id)
                              ).scalar()
    if not rows:
        return [Recipient(contact)] if contact else []
    return _unique([Recipient(r.email or contact, r.user_id, r.given_name) for r in rows if r.email or contact])


def agent_recipients(session: Session, commune: str) -> list[Recipient]:
    """The commune's current agents and admins whose address notify knows."""
    rows = session.execute(
        sa.select(user_emails.c.user_id, user_emails.c.email, user_emails.c.given_name)
        .select_from(agents.join(user_emails, user_emails.c.user_id == agents.c.user_id))
        .where(agents.c.commune == commune, agents.c.active.is_(True)).order_by(user_emails.c.email)).all()
    return _unique([Recipient(r.email, r.user_id, r.given_name) for r in rows])


def agents_without_address(session: Session, commune: str) -> list[str]:
    return list(session.execute(
        sa.select(agents.c.user_id).select_from(agents.outerjoin(user_emails, user_emails.c.user_id == agents.c.user_id))
        .where(agents.c.commune == commune, agents.c.active.is_(True), user_emails.c.user_id.is_(None))).scalars())


def commune_name(session: Session, slug: str | None) -> str:
    """The commune's name as identity announced it; its slug in words until then."""
    if not slug:
        return ""
    name = session.execute(sa.select(communes.c.name).where(communes.c.slug == slug)).scalar()
    return name or "-".join(part.capitalize() for part in slug.replace("_", "-").split("-"))


def family_commune(session: Session, family_id: str) -> str | None:
    """The family's commune when it belongs to exactly one."""
    slugs = list(session.execute(sa.select(families.c.commune).where(families.c.family_id == family_id)).scalars())
    return slugs[0] if len(slugs) == 1 else None


def child_names(session: Session, child_ids) -> dict[str, str]:
    ids = sorted(set(child_ids))
    if not ids:
        return {}
    rows = session.execute(sa.select(children.c.child_id, children.c.given_name).where(children.c.child_id.in_(ids)))
    return {r.child_id: r.given_name for r in rows}
