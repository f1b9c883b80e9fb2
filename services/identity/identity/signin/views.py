"""Sign-in pages under /oidc/: login, second factor (TOTP), forgotten password, reset.

Password hashing (about a tenth of a second) never runs inside a database transaction: each request reads in
one short transaction, hashes, then writes the outcome in another.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (Blueprint, current_app, flash, get_flashed_messages, redirect, render_template, request,
                   session, url_for)

from identity import audit, passwords, sessions, throttle
from identity.models import User
from identity.signin import clock, enrolment, reset, totp
from identity.signin.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm, TotpForm

blueprint = Blueprint("signin", __name__, url_prefix="/oidc")

LOGIN_FAILED = "Adresse e-mail ou mot de passe incorrect."
TOTP_FAILED = "Code incorrect ou expiré. Vérifiez que l'heure de votre téléphone est juste, puis réessayez."
PENDING_EXPIRED = "Votre connexion a expiré. Recommencez en saisissant votre e-mail et votre mot de passe."
RESET_SENT = ("Si un compte existe pour cette adresse, un e-mail vient de lui être envoyé avec un lien pour "
              "choisir un nouveau mot de passe. Le lien est valable une heure.")
RESET_DONE = "Votre mot de passe a été modifié. Connectez-vous avec votre nouveau mot de passe."
PENDING_KEY = "signin_pending"
# How long the second step may wait after a correct password.
PENDING_TTL = {"totp": timedelta(minutes=5)}
PARIS = ZoneInfo("Europe/Paris")
MAX_NEXT_LENGTH = 4000


# --- helpers ---------------------------------------------------------------------------------
def _db():
    return current_app.extensions["ef_signin"]["db"]


def _settings():
    return current_app.extensions["ef_signin"]["settings"]


def home_url() -> str:
    return _settings().public_url.rstrip("/") + "/"


def safe_next(value: str | None) -> str | None:
    """`value` if it is a relative URL inside /oidc/ (where the authorize endpoint lives),
    else None: an open redirect would let a phishing link borrow our login page."""
    if not value or len(value) > MAX_NEXT_LENGTH or "\\" in value or any(ord(c) < 0x20 for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/oidc/"):
        return None
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return None
    return value


def normalise_email(value: str) -> str:
    return value.strip().lower()


def _render(template: str, status: int = 200, headers: dict | None = None, **context):
    return render_template(template, **context), status, headers or {}


def _wait_message(blocked: throttle.Blocked) -> tuple[str, int]:
    seconds = blocked.retry_after_seconds(clock.now())
    if seconds < 60:
        delay = f"{seconds} seconde{'s' if seconds > 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        delay = f"{minutes} minute{'s' if minutes > 1 else ''}"
    at = blocked.until.astimezone(PARIS).strftime("%H:%M:%S")
    return (f"Trop de tentatives de connexion. Par sécurité, patientez {delay} avant de réessayer "
            f"(à partir de {at}).", seconds)


def _throttled(template: str, blocked: throttle.Blocked, email: str, stage: str, **context):
    message, seconds = _wait_message(blocked)
    with _db().transaction() as s:
        audit.record(s, "signin.throttled", ip=request.remote_addr, email=email, stage=stage,
                     blocked_until=blocked.until.isoformat())
    return _render(template, 429, {"Retry-After": str(seconds)}, page_error=message, **context)


def _errors_of(form) -> dict[str, str]:
    return {name: errors[0] for name, errors in form.errors.items() if errors}


@blueprint.after_request
def _security_headers(response):
    # Pages with secrets in forms or URLs (reset tokens): never cached, never framed, and no
    # Referer leaking the URL.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                   "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
    return response


# --- login -----------------------------------------------------------------------------------
@blueprint.get("/login")
def login_form():
    form = LoginForm(formdata=None, next=safe_next(request.args.get("next")) or "",
                     prompt="login" if request.args.get("prompt") == "login" else "")
    return _render("signin_login.html", form=form)


@blueprint.post("/login")
def login_submit():
    form = LoginForm()
    form.next.data = safe_next(form.next.data) or ""
    if not form.validate():
        return _render("signin_login.html", 400, form=form, errors=_errors_of(form))
    email = normalise_email(form.email.data)
    password = form.password.data
    ip = request.remote_addr
    db = _db()
    with db.read() as s:
        blocked = throttle.check(s, email, ip)
        user = s.scalar(sa.select(User).where(User.email == email))
        user_id, password_hash, active = (user.id, user.password_hash, user.is_active) if user else (None, None, False)
    if blocked:
        return _throttled("signin_login.html", blocked, email, "password", form=form)

    correct = passwords.verify_password(password_hash, password) and active
    new_hash = passwords.hash_password(password) if correct and passwords.needs_rehash(password_hash) else None

    if not correct:
        with db.transaction() as s:
            outcome = throttle.record_failure(s, email, ip)
            reason = "wrong_password" if user_id else "unknown_account"
            if user_id and not active:
                reason = "inactive_account"
            audit.record(s, "signin.failed", subject_user_id=user_id, ip=ip, email=email, reason=reason,
                         account_failures=outcome.account_failures, ip_failures=outcome.ip_failures)
            if outcome.account_locked_now:
                audit.record(s, "signin.locked", subject_user_id=user_id, ip=ip, email=email,
                             blocked_until=outcome.blocked_until.isoformat())
        form.password.data = ""
        return _render("signin_login.html", 401, form=form, page_error=LOGIN_FAILED)

    target = form.next.data or home_url()
    with db.transaction() as s:
        user = s.get(User, user_id)
        if new_hash:
            user.password_hash = new_hash
        if totp.required(user):
            stage = "totp" if user.totp_enabled else "enrol"
            audit.record(s, "signin.password_accepted", actor_user_id=user.id, subject_user_id=user.id, ip=ip,
                         next_step=stage)
            if stage == "enrol":
                # The second factor is set up only through a link e-mailed to the agent: the
                # password alone never binds an authenticator app (signin/enrolment.py).
                enrolment.request_link(s, user, ip, _settings().public_url)
                session.pop(PENDING_KEY, None)
                return _render("signin_totp_enrol_sent.html", email=email)
            session[PENDING_KEY] = {"uid": user.id, "email": email, "next": form.next.data, "stage": stage,
                                    "at": clock.now().timestamp()}
            return redirect(url_for("signin.totp_form"))
        response = redirect(target)
        _complete_sign_in(s, user, email, ["pwd"], response)
    return response


def _complete_sign_in(s, user: User, email: str, amr: list[str], response) -> None:
    throttle.record_success(s, email)
    sso = sessions.establish(s, request, response, user, amr)
    audit.record(s, "signin.succeeded", actor_user_id=user.id, subject_user_id=user.id, ip=request.remote_addr,
                 sid=sso.sid, amr=amr)
    session.pop(PENDING_KEY, None)


# --- second factor ---------------------------------------------------------------------------
def _pending(stage: str) -> dict | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("stage") != stage:
        return None
    started = datetime.fromtimestamp(float(pending.get("at", 0)), tz=clock.now().tzinfo)
    if clock.now() - started > PENDING_TTL[stage]:
        session.pop(PENDING_KEY, None)
        return None
    return pending


def _restart_login():
    flash(PENDING_EXPIRED, "error")
    return redirect(url_for("signin.login_form"))


@blueprint.get("/login/totp")
def totp_form():
    if _pending("totp") is None:
        return _restart_login()
    return _render("signin_totp.html", form=TotpForm(formdata=None))


@blueprint.post("/login/totp")
def totp_submit():
    return _second_factor_submit("totp", "signin_totp.html")


def _second_factor_submit(stage: str, template: str):
    pending = _pending(stage)
    if pending is None:
        return _restart_login()
    form = TotpForm()
    if not form.validate():
        return _render(template, 400, form=form, errors=_errors_of(form))
    email, ip, db = pending["email"], request.remote_addr, _db()
    with db.read() as s:
        blocked = throttle.check(s, email, ip)
    if blocked:
        return _throttled(template, blocked, email, stage, form=form)
    with db.transaction() as s:
        user = s.get(User, pending["uid"])
        if user is not None and user.is_active and totp.verify(s, user, form.code.data):
            response = redirect(pending.get("next") or home_url())
            _complete_sign_in(s, user, email, ["pwd", "otp", "mfa"], response)
            return response
        outcome = throttle.record_failure(s, email, ip)
        audit.record(s, "totp.failed", actor_user_id=pending["uid"], subject_user_id=pending["uid"], ip=ip,
                     stage=stage, account_failures=outcome.account_failures)
        if outcome.account_locked_now:
            audit.record(s, "signin.locked", subject_user_id=pending["uid"], ip=ip, email=email,
                         blocked_until=outcome.blocked_until.isoformat())
    form.code.data = ""
    return _render(template, 401, form=form, errors={"code": TOTP_FAILED})


# --- forgotten password ----------------------------------------------------------------------
@blueprint.get("/password/forgot")
def forgot_form():
    return _render("signin_forgot.html", form=ForgotPasswordForm(formdata=None))


@blueprint.post("/password/forgot")
def forgot_submit():
    form = ForgotPasswordForm()
    if not form.validate():
        return _render("signin_forgot.html", 400, form=form, errors=_errors_of(form))
    with _db().transaction() as s:
        reset.request_reset(s, normalise_email(form.email.data), request.remote_addr, _settings().public_url)
    return _render("signin_forgot_sent.html", message=RESET_SENT)


@blueprint.get("/reset/<token>")
def reset_form(token: str):
    with _db().read() as s:
        valid = reset.find_valid(s, token) is not None
    if not valid:
        return _render("signin_reset_invalid.html", 410)
    return _render("signin_reset.html", form=ResetPasswordForm(formdata=None), token=token)


@blueprint.post("/reset/<token>")
def reset_submit(token: str):
    db = _db()
    with db.read() as s:
        row = reset.find_valid(s, token)
        email = s.get(User, row.user_id).email if row is not None else None
    if email is None:
        return _render("signin_reset_invalid.html", 410)
    form = ResetPasswordForm()
    valid = form.validate()
    errors = _errors_of(form)
    policy = passwords.check_policy(form.password.data or "", email)
    if policy and "password" not in errors:
        errors["password"] = " ".join(policy)
    if not valid or errors:
        return _render("signin_reset.html", 400, form=form, errors=errors, token=token)
    new_hash = passwords.hash_password(form.password.data)
    with db.transaction() as s:
        row = reset.find_valid(s, token, lock=True)
        if row is None:  # used by a concurrent request meanwhile
            return _render("signin_reset_invalid.html", 410)
        reset.complete_reset(s, row, new_hash, request.remote_addr)
    flash(RESET_DONE, "success")
    response = redirect(url_for("signin.login_form"))
    response.delete_cookie(sessions.COOKIE_NAME, path=sessions.COOKIE_PATH)
    return response


@blueprint.app_context_processor
def _layout_context():
    return {"public_home": home_url(), "flashed": lambda: get_flashed_messages(with_categories=True)}
