"""Identity's internal HTTP API: thin adapters from openapi.yaml operations to households.

Each operation opens one transaction, calls one use case and maps its refusals
(identity.errors) to problem+json. Connexion has already checked the service token and the
body's shape against the spec.

Operations are async (ADR 0007): the sync use cases run through `Database.run_read/run_write`,
in a worker thread, so neither a slow query nor password hashing (Argon2id, ~50 ms of CPU, which
releases the GIL) holds the event loop.
"""
from __future__ import annotations

import functools

from connexion import NoContent, request

from servicekit import idempotency, web
from servicekit.operations import Operations
from servicekit.web import Problem, current_caller

from identity import households
from identity.oidc import consent
from identity.errors import AccountError, InvalidInput
from identity.models import idempotency_keys


def _settings():
    return web.state()["settings"]


def _db():
    return web.state()["db"]


ops = Operations({
    InvalidInput: lambda exc: Problem(422, exc.detail, errors=exc.errors),
    AccountError: lambda exc: Problem(exc.status, exc.detail, **exc.extra),
})
_read, _write = ops.read, ops.write


async def _write_once(operation: str, body, use_case, *args):
    """A creating POST: honours the gateway's Idempotency-Key (servicekit.idempotency)."""
    key = idempotency.key_from(request)
    return await _write(idempotency.once, idempotency_keys, current_caller().sub, operation, key, body,
                        use_case, *args)


def _problems(fn):
    """Refusals -> problems; a body (or `(body, status)`) -> a JSON answer."""
    @ops.problems
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        result = await fn(*args, **kwargs)
        body, status = result if isinstance(result, tuple) else (result, 200)
        return ops.ok(body, status)
    return wrapper


# --- communes (public) ---------------------------------------------------------------------------
@_problems
async def list_communes():
    # The platform's most frequent read: one query, no snapshot needed.
    return {"items": await _db().run_read(households.list_communes)}


@_problems
async def get_commune(slug):
    return await _read(households.get_commune, slug)


# --- agents ----------------------------------------------------------------------------------------
@_problems
async def register_family(body):
    return (await _write_once("register_family", body, households.register_family, _settings(), current_caller(),
                              body)), 201


@_problems
async def list_families(q=None, status=None, page=1, per_page=25):
    return await _read(households.list_families, current_caller(), q=q, status=status, page=page, per_page=per_page)


@_problems
async def get_family(family_id):
    return await _read(households.get_family, current_caller(), family_id)


@_problems
async def resend_activation(family_id):
    return await _write(households.resend_activation, _settings(), current_caller(), family_id)


@_problems
async def list_audit(page=1, per_page=50):
    return await _read(households.list_audit, current_caller(), page=page, per_page=per_page)


# --- activation links --------------------------------------------------------------------------------
@_problems
async def get_activation(token):
    return await _read(households.get_activation, token)


@_problems
async def submit_activation_profile(token, body):
    return await _write(households.submit_activation_profile, token, body)


@_problems
async def submit_activation_password(token, body):
    return await _write(households.submit_activation_password, token, body.get("password"))


@_problems
async def confirm_activation(token):
    return await _write(households.confirm_activation, current_caller(), token)


# --- the family space ------------------------------------------------------------------------------
@_problems
async def get_household():
    return await _read(households.get_household, current_caller())


@_problems
async def update_family(body):
    return await _write(households.update_family, current_caller(), body)


@_problems
async def update_guardian(guardian_id, body):
    return await _write(households.update_guardian, current_caller(), guardian_id, body)


@_problems
async def add_child(body):
    return (await _write_once("add_child", body, households.add_child, current_caller(), body)), 201


@_problems
async def update_child(child_id, body):
    return await _write(households.update_child, current_caller(), child_id, body)


@_problems
async def invite_guardian(body):
    return (await _write_once("invite_guardian", body, households.invite_guardian, _settings(), current_caller(),
                              body)), 201


# --- invitation links ---------------------------------------------------------------------------------
@_problems
async def get_invitation(token):
    return await _read(households.get_invitation, token)


@_problems
async def accept_invitation(token, body):
    return await _write(households.accept_invitation, token, body)


@_problems
async def confirm_invitation(token):
    return await _write(households.confirm_invitation, current_caller(), token)


# --- connected portals (OIDC consents) --------------------------------------------------------------
def _my_user_id(session) -> str:
    user = households.user_by_sub(session, current_caller().sub)
    if user is None:
        raise Problem(404, "Compte introuvable.")
    return user.id


def _connected_apps(session):
    return {"items": consent.connected_apps(session, _my_user_id(session))}


def _revoke(session, client_id):
    if not consent.revoke(session, _my_user_id(session), client_id):
        raise Problem(404, "Cette application n'a pas accès à votre compte.")


@_problems
async def list_my_consents():
    return await _read(_connected_apps)


async def revoke_my_consent(client_id):
    await _write(_revoke, client_id)
    return NoContent, 204
