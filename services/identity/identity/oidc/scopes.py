"""Scopes the provider knows, what each one shares, and how they are described to people."""
from __future__ import annotations

from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list

# Each scope and the claims it releases (besides `sub`, always given with `openid`).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "family_id", "communes", "agent_of", "platform_role"),
    "email": ("email", "email_verified"),
}

# Scopes of the platform's public API (the gateway's /api, which checks them per operation:
# gateway/openapi/gateway.yaml). They release no claims in id_tokens or userinfo; they let a
# client call the API, and its access tokens name the user's family (`family_id`, `communes`:
# claims.access_token_claims) so that the gateway reads that family's data and no other.
API_SCOPES: tuple[str, ...] = ("invoices:read", "requests:read")

# Shown on the consent page (French, plain words).
SCOPE_DESCRIPTIONS_FR: dict[str, str] = {
    "openid": "Vous identifier de façon sûre (un identifiant qui ne révèle rien d'autre sur vous)",
    "profile": "Vos nom et prénom, votre famille, les communes auxquelles elle est rattachée "
               "et votre rôle éventuel d'agent",
    "email": "Votre adresse e-mail",
    "invoices:read": "Consulter les factures de votre famille et leur état de paiement",
    "requests:read": "Consulter les demandes de votre famille auprès de la commune et leurs réponses",
}

SUPPORTED = (*SCOPE_CLAIMS, *API_SCOPES)

# What a client registered without an explicit list may ask for: signing users in, no API.
DEFAULT_CLIENT_SCOPES = "openid profile email"


class UnknownScope(ValueError):
    """An operator granted a scope the provider does not know."""


def client_scopes(value: str | list[str] | tuple[str, ...] | None) -> str:
    """The scopes granted to a client at registration, checked and in a stable order;
    `openid` is always granted (every client signs users in)."""
    if value is None:
        value = DEFAULT_CLIENT_SCOPES
    names = [n for item in ([value] if isinstance(value, str) else value) for n in scope_to_list(item) or []]
    unknown = sorted(set(names) - set(SUPPORTED))
    if unknown:
        raise UnknownScope(f"unknown scope(s) {', '.join(unknown)}; known: {' '.join(SUPPORTED)}")
    return list_to_scope([s for s in SUPPORTED if s in names or s == "openid"])


def allowed_scope(requested: str | None, granted: str | None = None) -> str:
    """The requested scopes we know (and, given `granted`, that the client was granted), in a
    stable order; others are dropped (RFC 6749 §3.3 lets the server narrow the scope)."""
    wanted = set(scope_to_list(requested) or [])
    if granted is not None:
        wanted &= set(scope_to_list(granted) or [])
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
