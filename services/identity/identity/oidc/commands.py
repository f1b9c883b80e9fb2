"""Operator commands of the provider (`python -m identity <command>`).

    register-client   create a relying party; prints its client_id and secret (shown once)
    ensure-client     create or update a client with a known secret (make run, compose)
                      (both: --scopes "openid profile email invoices:read" grants what the
                      client may ask for; default openid profile email, no API scope)
    rotate-keys       promote the next signing key, retire the active one
    revoke-consent    withdraw a user's consent to a client and revoke its tokens
    list-clients      show the registered clients (never their secrets)
"""
from __future__ import annotations

import os
import sys

import sqlalchemy as sa

from identity.db import get_db
from identity.models import User
from identity.oidc import clients, consent, keys, scopes
from identity.oidc.models import OAuthClient


def _register_configure(p):
    p.add_argument("--name", required=True)
    p.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
    p.add_argument("--first-party", action="store_true")
    p.add_argument("--public", action="store_true", help="no secret (PKCE only), e.g. a mobile app")
    p.add_argument("--backchannel-logout-uri")
    p.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris")
    p.add_argument("--client-id", help="choose the identifier (default: generated)")
    _scopes_argument(p)


def _scopes_argument(p):
    p.add_argument("--scopes", help=f"space-separated scopes the client may ask for, among: {' '.join(scopes.SUPPORTED)} "
                                    f"(default: {scopes.DEFAULT_CLIENT_SCOPES}; openid is always granted)")


def _register_run(args) -> int:
    try:
        with get_db().transaction() as s:
            registered = clients.register_client(
                s, args.name, args.redirect_uris, first_party=args.first_party, public=args.public,
                post_logout_redirect_uris=args.post_logout_redirect_uris,
                backchannel_logout_uri=args.backchannel_logout_uri, client_id=args.client_id, scopes=args.scopes)
    except clients.InvalidClientMetadata as exc:
        print(f"register-client: {exc}", file=sys.stderr)
        return 2
    print(f"client_id={registered.client_id}")
    if registered.secret:
        print(f"client_secret={registered.secret}")
        print("Keep the secret now: only its hash is stored.", file=sys.stderr)
    return 0


def _ensure_configure(p):
    p.add_argument("--client-id", required=True)
    p.add_argument("--name", help="display name (default: the client id)")
    p.add_argument("--secret-env", help="environment variable holding the secret (omit for a public client)")
    p.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
    p.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris")
    p.add_argument("--backchannel-logout-uri")
    p.add_argument("--first-party", action="store_true")
    _scopes_argument(p)


def _ensure_run(args) -> int:
    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            print(f"ensure-client: environment variable {args.secret_env} is empty or missing", file=sys.stderr)
            return 2
    try:
        with get_db().transaction() as s:
            clients.ensure_client(s, args.client_id, secret, args.name or args.client_id, args.redirect_uris,
                                  args.first_party, args.post_logout_redirect_uris, args.backchannel_logout_uri,
                                  scopes=args.scopes)
    except clients.InvalidClientMetadata as exc:
        print(f"ensure-client: {exc}", file=sys.stderr)
        return 2
    print(f"client {args.client_id} is up to date")
    return 0


def _rotate_configure(p):
    p.add_argument("--force", action="store_true",
                   help=f"rotate even if the next key was published less than {keys.JWKS_MAX_AGE} s ago")


def _rotate_run(args) -> int:
    try:
        with get_db().transaction() as s:
            result = keys.rotate(s, force=args.force)
    except keys.RotationTooSoon:
        print(f"rotate-keys: the next key was published less than {keys.JWKS_MAX_AGE} s ago; relying parties "
              "may not have it yet. Wait, or use --force.", file=sys.stderr)
        return 2
    print(f"active key: {result['active']}\nnext key (published, not signing): {result['next']}")
    for kid in result["retired"]:
        print(f"retired (published for {keys.RETIRED_PUBLISHED_FOR}): {kid}")
    for kid in result["dropped"]:
        print(f"dropped from the JWKS: {kid}")
    return 0


def _revoke_consent_configure(p):
    p.add_argument("--email", required=True, help="the user's login e-mail")
    p.add_argument("--client-id", required=True)


def _revoke_consent_run(args) -> int:
    with get_db().transaction() as s:
        user = s.scalars(sa.select(User).where(User.email == args.email.strip().lower())).first()
        if user is None:
            print("revoke-consent: no such user", file=sys.stderr)
            return 2
        done = consent.revoke(s, user.id, args.client_id)
    print("consent revoked and tokens revoked" if done else "no active consent for this client")
    return 0


def _list_configure(p):
    pass


def _list_run(args) -> int:
    with get_db().read() as s:
        for c in s.scalars(sa.select(OAuthClient).order_by(OAuthClient.client_id)):
            kind = "public" if c.is_public else "confidential"
            party = "first-party" if c.first_party else "third-party"
            print(f"{c.client_id}\t{c.name}\t{kind}\t{party}\t{c.scopes}\t{' '.join(c.redirect_uris)}")
    return 0


COMMANDS = {
    "register-client": ("register an OpenID Connect client", _register_configure, _register_run),
    "ensure-client": ("create or update an OpenID Connect client (idempotent)", _ensure_configure, _ensure_run),
    "rotate-keys": ("rotate the OpenID Connect signing keys", _rotate_configure, _rotate_run),
    "revoke-consent": ("withdraw a user's consent to a client", _revoke_consent_configure, _revoke_consent_run),
    "list-clients": ("list OpenID Connect clients", _list_configure, _list_run),
}
