"""Identity's internal HTTP API: thin adapters from openapi.yaml operations to households.

Each operation opens one transaction, calls one use case and maps its refusals
(identity.errors) to problem+json. Connexion has already checked the service token and the
body's shape against the spec.
"""
from __future__ import annotations

import functools

from connexion import NoContent
from flask import current_app
from sqlalchemy.exc import IntegrityError

from servicekit.web import Problem, current_caller

from identity import households
from identity.oidc import consent
from identity.errors import AccountError, InvalidInput


def _settings():
    return current_app.config["SERVICE_SETTINGS"]


def _db():
    return current_app.config["SERVICE_DB"]


def _problems(fn):
    """Use-case refusals become problems; a unique-key race (two agents registering the same
    e-mail at once) becomes a 409 the client can retry, not a 500."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except InvalidInput as exc:
            raise Problem(422, exc.detail, errors=exc.errors) from None
        except AccountError as exc:
            raise Problem(exc.status, exc.detail, **exc.extra) from None
        except IntegrityError:
            raise Problem(409, "Cette opération est entrée en conflit avec une autre. Réessayez.") from None
        body, status = result if isinstance(result, tuple) else (result, 200)
        # The spec also declares problem+json responses: say which one this is.
        return body, status, {"Content-Type": "application/json"}
    return wrapper


def _write(use_case, *args, **kwargs):
    with _db().transaction() as session:
        return use_case(session, *args, **kwargs)


def _read(use_case, *args, **kwargs):
    with _db().read() as session:
        return use_case(session, *args, **kwargs)


# --- communes (public) ---------------------------------------------------------------------------
@_problems
def list_communes():
    return {"items": _read(households.list_communes)}


@_problems
def get_commune(slug):
    return _read(households.get_commune, slug)


# --- agents ----------------------------------------------------------------------------------------
@_problems
def register_family(body):
    return _write(households.register_family, _settings(), current_caller(), body), 201


@_problems
def list_families(q=None, status=None, page=1, per_page=25):
    return _read(households.list_families, current_caller(), q=q, status=status, page=page, per_page=per_page)


@_problems
def get_family(family_id):
    return _read(households.get_family, current_caller(), family_id)


@_problems
def resend_activation(family_id):
    return _write(households.resend_activation, _settings(), current_caller(), family_id)


@_problems
def list_audit(page=1, per_page=50):
    return _read(households.list_audit, current_caller(), page=page, per_page=per_page)


# --- activation links --------------------------------------------------------------------------------
@_problems
def get_activation(token):
    return _read(households.get_activation, token)


@_problems
def submit_activation_profile(token, body):
    return _write(households.submit_activation_profile, token, body)


@_problems
def submit_activation_password(token, body):
    return _write(households.submit_activation_password, token, body.get("password"))


@_problems
def confirm_activation(token):
    return _write(households.confirm_activation, current_caller(), token)


# --- the family space ------------------------------------------------------------------------------
@_problems
def get_household():
    return _read(households.get_household, current_caller())


@_problems
def update_family(body):
    return _write(households.update_family, current_caller(), body)


@_problems
def update_guardian(guardian_id, body):
    return _write(households.update_guardian, current_caller(), guardian_id, body)


@_problems
def add_child(body):
    return _write(households.add_child, current_caller(), body), 201


@_problems
def update_child(child_id, body):
    return _write(households.update_child, current_caller(), child_id, body)


@_problems
def invite_guardian(body):
    return _write(households.invite_guardian, _settings(), current_caller(), body), 201


# --- invitation links ---------------------------------------------------------------------------------
@_problems
def get_invitation(token):
    return _read(households.get_invitation, token)


@_problems
def accept_invitation(token, body):
    return _write(households.accept_invitation, token, body)


@_problems
def confirm_invitation(token):
    return _write(households.confirm_invitation, current_caller(), token)


# --- connected portals (OIDC consents) --------------------------------------------------------------
def _my_user_id(session) -> str:
    user = households.user_by_sub(session, current_caller().sub)
    if user is None:
        raise Problem(404, "Compte introuvable.")
    return user.id


@_problems
def list_my_consents():
    with _db().read() as session:
        return {"items": consent.connected_apps(session, _my_user_id(session))}


def revoke_my_consent(client_id):
    with _db().transaction() as session:
        if not consent.revoke(session, _my_user_id(session), client_id):
            raise Problem(404, "Cette application n'a pas accès à votre compte.")
    return NoContent, 204
