"""The claims released about a user, in one place: id_tokens and userinfo both use them."""
from __future__ import annotations

import importlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.models import AgentAssignment, Commune, User
from authlib.oauth2.rfc6749.util import scope_to_list

from identity.oidc.scopes import API_SCOPES, claim_names


def user_claims(db_session: Session, user: User, scopes: str | list[str] | None) -> dict:
    """Claims of `user` allowed by `scopes` (space-separated string or list)."""
    if isinstance(scopes, (list, tuple, set)):
        scopes = " ".join(scopes)
    wanted = claim_names(scopes)
    claims: dict = {"sub": user.sub}
    if "email" in wanted:
        claims["email"] = user.email
        # The e-mail is the login and is proven by the activation link before an account works.
        claims["email_verified"] = bool(user.is_active)
    if "name" in wanted:
        claims["name"] = user.display_name
        claims["given_name"] = user.given_name
        claims["family_name"] = user.family_name
        claims.update(_family_claims(db_session, user))
        claims["agent_of"] = _agent_of(db_session, user)
        claims["platform_role"] = user.platform_role
    return claims


def access_token_claims(db_session: Session, user: User, scopes: str | None) -> dict:
    """What an access token carries besides the standard claims: with a scope of the platform's
    public API (its family's invoices or requests), the user's family (`family_id`, `communes`),
    so that the gateway asks the services as that parent; otherwise nothing."""
    if not set(scope_to_list(scopes) or []) & set(API_SCOPES):
        return {}
    return _family_claims(db_session, user)


def _agent_of(db_session: Session, user: User) -> list[dict]:
    rows = db_session.execute(
        sa.select(Commune.slug, Commune.name, AgentAssignment.role)
        .join(AgentAssignment, AgentAssignment.commune_slug == Commune.slug)
        .where(AgentAssignment.user_id == user.id)
        .order_by(Commune.name)
    ).all()
    return [{"slug": slug, "name": name, "role": role} for slug, name, role in rows]


def _family_claims(db_session: Session, user: User) -> dict:
    """family_id and communes come from the households side when it is installed."""
    provider = _households_family_claims()
    if provider is None:
        return {"family_id": None, "communes": []}
    found = provider(db_session, user) or {}
    return {"family_id": found.get("family_id"), "communes": list(found.get("communes") or [])}


def _households_family_claims():
    try:
        module = importlib.import_module("identity.households")
    except ModuleNotFoundError as exc:
        if exc.name not in ("identity.households",):
            raise
        return None
    return getattr(module, "family_claims", None)
