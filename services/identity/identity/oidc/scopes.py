"""Scopes the provider knows, what each one shares, and how they are described to people."""
from __future__ import annotations

from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list

# Each scope and the claims it releases (besides `sub`, always given with `openid`).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "family_id", "communes", "agent_of", "platform_role"),
    "email": ("email", "email_verified"),
}

# Shown on the consent page (French, plain words).
SCOPE_DESCRIPTIONS_FR: dict[str, str] = {
    "openid": "Vous identifier de façon sûre (un identifiant qui ne révèle rien d'autre sur vous)",
    "profile": "Vos nom et prénom, votre famille, les communes auxquelles elle est rattachée "
               "et votre rôle éventuel d'agent",
    "email": "Votre adresse e-mail",
}

SUPPORTED = tuple(SCOPE_CLAIMS)


def allowed_scope(requested: str | None) -> str:
    """The requested scopes we know, in a stable order; unknown scopes are dropped
    (RFC 6749 §3.3 lets the server narrow the scope)."""
    wanted = set(scope_to_list(requested) or [])
    return list_to_scope([s for s in SUPPORTED if s in wanted]) or ""


def covers(granted: str | None, requested: str | None) -> bool:
    return set(scope_to_list(requested) or []) <= set(scope_to_list(granted) or [])


def union(a: str | None, b: str | None) -> str:
    both = set(scope_to_list(a) or []) | set(scope_to_list(b) or [])
    return list_to_scope([s for s in SUPPORTED if s in both]) or ""


def claim_names(scope: str | None) -> set[str]:
    names: set[str] = set()
    for s in scope_to_list(scope) or []:
        names.update(SCOPE_CLAIMS.get(s, ()))
    return names
