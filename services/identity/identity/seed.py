"""Demo data and operator commands for communes and agents (`python -m identity <command>`).

    seed-demo        demo communes, agents, an activated family and the demo OIDC client
                     (development and test only: refused when EF_ENV=production); idempotent
    create-commune   --slug heillecourt --name Heillecourt
    add-agent        --commune heillecourt --email agent@mairie.fr [--admin] [--password-env VAR]
                     (a new account takes its first password from the variable VAR; TOTP is
                     enrolled at first sign-in); announces the assignment to the other services
    (remove-agent, publish-agents: see identity.agents)
"""
from __future__ import annotations

import os
import re
import sys
from datetime import date

from sqlalchemy.orm import Session

from contracts.identity import FamilyActivated, FamilyRegistered
from servicekit.messaging.outbox import add_event

from identity import agents, audit, passwords
from identity.db import get_db
from identity.households import facts, user_by_email
from identity.households.callers import SOURCE
from identity.models import Child, Commune, Family, FamilyCommune, Guardian, User, utcnow
from identity.oidc.clients import ensure_client
from identity.profile_rules import normalise_email
from identity.settings import get_settings

DEFAULT_DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
DEMO_AGENT_PASSWORD = "Demo-Agent-2026"
DEMO_PARENT_EMAIL = "parent.demo@example.org"
DEMO_PARENT_PASSWORD = "Demo-Famille-2026"
DEMO_COMMUNES = (("heillecourt", "Heillecourt"), ("ludres", "Ludres"))
DEMO_AGENTS = (("agent.heillecourt@example.org", "heillecourt"), ("agent.ludres@example.org", "ludres"))
DEMO_CLIENT = {"client_id": "demo-portal", "secret": "demo-portal-secret", "name": "Portail factures (démo)",
               "redirect_uris": ["http://127.0.0.1:8765/callback"], "first_party": False,
               "scopes": "openid profile email invoices:read requests:read"}
# Fixed ids: booking's seed-demo enrols the demo children before identity's events reach it.
DEMO_FAMILY_ID = "00000000-0000-4000-8000-00000000f001"
DEMO_CHILDREN = (
    {"id": "00000000-0000-4000-8000-00000000c001", "given_name": "Léa", "family_name": "Martin", "birth_date": date(2017, 3, 2), "school": "École Jules Ferry",
     "class_name": "CE2", "medical_info": "Allergie aux arachides (PAI).",
     "pickup_authorisations": [{"name": "Jeanne Martin", "phone": "06 11 22 33 44", "relation": "Grand-mère"}]},
    {"id": "00000000-0000-4000-8000-00000000c002", "given_name": "Hugo", "family_name": "Martin", "birth_date": date(2020, 9, 14),
     "school": "École maternelle Les Tilleuls", "class_name": "Moyenne section", "medical_info": None,
     "pickup_authorisations": []},
)
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class SeedRefused(Exception):
    pass


# --- idempotent building blocks ---------------------------------------------------------------------
def ensure_commune(session: Session, slug: str, name: str) -> Commune:
    if not _SLUG.match(slug) or len(slug) > 64:
        raise ValueError(f"invalid commune slug {slug!r}: lower-case letters, digits and hyphens")
    commune = session.get(Commune, slug)
    if commune is None:
        commune = Commune(slug=slug, name=name)
        session.add(commune)
        audit.record(session, "commune.created", commune_slug=slug, name=name)
    return commune


def ensure_agent(session: Session, email: str, commune_slug: str, role: str = "agent", *,
                 password: str | None = None, totp_secret: str | None = None) -> tuple[User, bool]:
    """The user (made if missing, with `password` and an enrolled TOTP secret when given) as
    agent of the commune. An existing account is left as it is. Returns (user, created)."""
    if session.get(Commune, commune_slug) is None:
        raise ValueError(f"unknown commune {commune_slug!r}")
    email = normalise_email(email)
    user = user_by_email(session, email)
    created = user is None
    if created:
        user = User(email=email, is_active=password is not None)
        if password is not None:
            user.password_hash, user.password_changed_at = passwords.hash_password(password), utcnow()
        if totp_secret:
            user.totp_secret, user.totp_enabled = totp_secret, True
        session.add(user)
        session.flush()
    agents.assign(session, user, commune_slug, role)  # announced to the other services
    return user, created


def ensure_demo_family(session: Session) -> User:
    """parent.demo@example.org, activated in Heillecourt, with two children."""
    user = user_by_email(session, DEMO_PARENT_EMAIL)
    if user is not None:
        return user
    now = utcnow()
    user = User(email=DEMO_PARENT_EMAIL, given_name="Camille", family_name="Martin", birth_date=date(1986, 5, 20),
                phone="06 12 34 56 78", password_hash=passwords.hash_password(DEMO_PARENT_PASSWORD),
                password_changed_at=now, is_active=True)
    family = Family(id=DEMO_FAMILY_ID, name="Martin")
    session.add_all([user, family])
    session.flush()
    session.add(Guardian(family_id=family.id, user_id=user.id, given_name="Camille", family_name="Martin",
                         email=DEMO_PARENT_EMAIL, phone="06 12 34 56 78", street="12 rue de la Gare",
                         postcode="54180", city="Heillecourt", is_primary=True))
    session.add(FamilyCommune(family_id=family.id, commune_slug="heillecourt", status="active",
                              registered_name="Martin", registered_by=None, registered_at=now, activated_at=now))
    children = [Child(family_id=family.id, **child) for child in DEMO_CHILDREN]
    session.add_all(children)
    session.flush()
    _announce_demo_family(session, user, family, children, now)
    audit.record(session, "demo.family_seeded", subject_user_id=user.id, commune_slug="heillecourt",
                 family_id=family.id)
    return user


def _announce_demo_family(session: Session, user: User, family: Family, children: list[Child], now) -> None:
    """What a real registration, activation and household would have announced, so booking,
    billing and requests know the demo family and its children."""
    add_event(session, SOURCE, FamilyRegistered(family_id=family.id, commune="heillecourt", family_name=family.name,
                                                email=user.email))
    add_event(session, SOURCE, FamilyActivated(family_id=family.id, commune="heillecourt", user_id=user.sub))
    for guardian in family.guardians:
        facts.guardian_added(session, guardian, user, now)
        facts.address_changed(session, guardian, now)
    for child in children:
        facts.child_added(session, child, now)


def seed_demo(session: Session, *, production: bool, totp_secret: str) -> None:
    if production:
        raise SeedRefused("seed-demo refuses to run when EF_ENV=production")
    for slug, name in DEMO_COMMUNES:
        ensure_commune(session, slug, name)
    session.flush()
    for email, commune in DEMO_AGENTS:
        ensure_agent(session, email, commune, password=DEMO_AGENT_PASSWORD, totp_secret=totp_secret)
    ensure_demo_family(session)
    ensure_client(session, DEMO_CLIENT["client_id"], DEMO_CLIENT["secret"], DEMO_CLIENT["name"],
                  DEMO_CLIENT["redirect_uris"], first_party=DEMO_CLIENT["first_party"],
                  scopes=DEMO_CLIENT["scopes"])


# --- command line -------------------------------------------------------------------------------------
def _seed_configure(_parser):
    pass


def _seed_run(_args) -> int:
    settings = get_settings()
    secret = os.environ.get("DEMO_AGENT_TOTP_SECRET") or DEFAULT_DEMO_TOTP_SECRET
    try:
        with get_db().transaction() as s:
            seed_demo(s, production=settings.is_production, totp_secret=secret)
    except SeedRefused as exc:
        print(f"seed-demo: {exc}", file=sys.stderr)
        return 2
    print("seed-demo: communes heillecourt and ludres, agents agent.heillecourt@example.org and "
          f"agent.ludres@example.org ({DEMO_AGENT_PASSWORD}, TOTP secret {secret}), parent "
          f"{DEMO_PARENT_EMAIL} ({DEMO_PARENT_PASSWORD}), OIDC client demo-portal")
    return 0


def _commune_configure(parser):
    parser.add_argument("--slug", required=True, help="identifier in URLs and tokens, e.g. heillecourt")
    parser.add_argument("--name", required=True, help="display name, e.g. Heillecourt")


def _commune_run(args) -> int:
    try:
        with get_db().transaction() as s:
            existed = s.get(Commune, args.slug) is not None
            ensure_commune(s, args.slug, args.name)
    except ValueError as exc:
        print(f"create-commune: {exc}", file=sys.stderr)
        return 2
    print(f"create-commune: {args.slug} {'already exists' if existed else 'created'}")
    return 0


def _agent_configure(parser):
    parser.add_argument("--commune", required=True, help="commune slug")
    parser.add_argument("--email", required=True)
    parser.add_argument("--admin", action="store_true", help="commune administrator rather than agent")
    parser.add_argument("--password-env", help="environment variable holding a new account's first password")


def _agent_run(args) -> int:
    role = "admin" if args.admin else "agent"
    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and not password:
        print(f"add-agent: the variable {args.password_env} is empty or not set", file=sys.stderr)
        return 2
    refusal = passwords.check_policy(password, args.email) if password else []
    if refusal:
        print(f"add-agent: password refused: {' '.join(refusal)}", file=sys.stderr)
        return 2
    try:
        with get_db().transaction() as s:
            user, created = ensure_agent(s, args.email, args.commune, role, password=password)
            email = user.email
    except ValueError as exc:
        print(f"add-agent: {exc}", file=sys.stderr)
        return 2
    print(f"add-agent: {email} is {role} of {args.commune}"
          + (" (new account" + ("" if password else ", inactive until given a password with --password-env")
             + ")" if created else ""))
    return 0


COMMANDS = {
    "seed-demo": ("demo communes, agents, family and OIDC client (not in production)", _seed_configure, _seed_run),
    "create-commune": ("create a commune (tenant)", _commune_configure, _commune_run),
    "add-agent": ("make a user agent (or --admin) of a commune", _agent_configure, _agent_run),
}
