"""The page of an e-mailed TOTP enrolment link: /oidc/login/totp/enrol/<token>
(see identity.signin.enrolment). Registered on the sign-in blueprint."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from identity import audit, throttle
from identity.models import User
from identity.signin import enrolment, totp
from identity.signin.forms import TotpForm
from identity.signin.views import (TOTP_FAILED, _db, _errors_of, _render, _throttled, blueprint)

ENROLLED = ("La double authentification est activée. Connectez-vous avec votre mot de passe et le code "
            "affiché par votre application.")
TEMPLATE = "signin_totp_enrol.html"


def _page_context(row, email: str) -> dict:
    return {"secret_grouped": totp.grouped(row.secret), "otpauth_uri": totp.provisioning_uri(row.secret, email)}


def _dead_link():
    return _render("signin_totp_enrol_invalid.html", 410)


@blueprint.get("/login/totp/enrol/<token>")
def enrol_link_form(token: str):
    with _db().read() as s:
        row = enrolment.find_valid(s, token)
        context = _page_context(row, s.get(User, row.user_id).email) if row is not None else None
    if context is None:
        return _dead_link()
    return _render(TEMPLATE, form=TotpForm(formdata=None), token=token, **context)


@blueprint.post("/login/totp/enrol/<token>")
def enrol_link_submit(token: str):
    db, ip = _db(), request.remote_addr
    with db.read() as s:
        row = enrolment.find_valid(s, token)
        email = s.get(User, row.user_id).email if row is not None else None
        context = _page_context(row, email) if row is not None else None
    if context is None:
        return _dead_link()
    form = TotpForm()
    if not form.validate():
        return _render(TEMPLATE, 400, form=form, errors=_errors_of(form), token=token, **context)
    with db.read() as s:
        blocked = throttle.check(s, email, ip)
    if blocked:
        return _throttled(TEMPLATE, blocked, email, "enrol", form=form, token=token, **context)
    with db.transaction() as s:
        row = enrolment.find_valid(s, token, lock=True)
        if row is None:  # used by a concurrent request meanwhile
            return _dead_link()
        if enrolment.confirm(s, row, form.code.data, ip):
            flash(ENROLLED, "success")
            return redirect(url_for("signin.login_form"))
        outcome = throttle.record_failure(s, email, ip)
        audit_failure(s, row.user_id, ip, outcome)
    form.code.data = ""
    return _render(TEMPLATE, 401, form=form, errors={"code": TOTP_FAILED}, token=token, **context)


def audit_failure(s, user_id: str, ip: str | None, outcome) -> None:
    audit.record(s, "totp.failed", actor_user_id=user_id, subject_user_id=user_id, ip=ip, stage="enrol",
                 account_failures=outcome.account_failures)
    if outcome.account_locked_now:
        audit.record(s, "signin.locked", subject_user_id=user_id, ip=ip,
                     blocked_until=outcome.blocked_until.isoformat())
