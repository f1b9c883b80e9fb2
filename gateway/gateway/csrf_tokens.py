"""The pages' CSRF protection: flask_wtf's, its signed tokens checked and signed once per process.

flask_wtf signs the session's raw token for every page that shows a form (`csrf_token()`: a
new itsdangerous serializer, a derived key, an HMAC, each time) and checks the token of every
form POST the same way, though with `WTF_CSRF_TIME_LIMIT = None` (the gateway's setting: the
token lives as long as the session) both are pure functions of the secret key and the token:
the raw token a signed token carries never changes, nor does a valid signature of a raw token.
So each process keeps what it signed and what it checked (bounded; forgotten all at once when
full), keyed by the secret key too. Everything else is flask_wtf's: the raw token in the
session, the comparison with it on every POST, the exemptions, the referrer check over HTTPS,
the error (`CSRFError`, the French page of gateway.errors). With a time limit or another secret
key configured, flask_wtf's own functions do all of it.
"""
from __future__ import annotations

import hmac
import logging

from flask import current_app, g, request, session
from flask_wtf import csrf as wtf
from itsdangerous import BadData, URLSafeTimedSerializer
from wtforms import ValidationError

log = logging.getLogger("flask_wtf.csrf")  # flask_wtf's logger: the same messages where they were

SALT = "wtf-csrf-token"
KEPT = 4096

_signed: dict[tuple, str] = {}  # (secret key, raw token) -> a signed token carrying it
_checked: dict[tuple, object] = {}  # (secret key, signed token) -> the raw token it carries, signature valid


def _kept(config) -> bool:
    """Whether the tokens may be kept: no time limit, the app's own secret key, the default field."""
    return (config.get("WTF_CSRF_TIME_LIMIT") is None and config.get("WTF_CSRF_SECRET_KEY") is None
            and config.get("WTF_CSRF_FIELD_NAME") == "csrf_token")


def _remember(cache: dict, key: tuple, value) -> None:
    if len(cache) >= KEPT:
        cache.clear()
    cache[key] = value


def generate_csrf(secret_key=None, token_key=None) -> str:
    """flask_wtf.csrf.generate_csrf (the template's `csrf_token()`), the signed token kept."""
    app = current_app
    if secret_key is not None or token_key is not None or not _kept(app.config):
        return wtf.generate_csrf(secret_key, token_key)
    if "csrf_token" not in g:
        raw = session.get("csrf_token")
        if not isinstance(raw, str):  # none yet (or unusable): flask_wtf makes it and signs it
            return wtf.generate_csrf()
        key = (app.secret_key, raw)
        signed = _signed.get(key)
        if signed is None:
            signed = URLSafeTimedSerializer(app.secret_key, salt=SALT).dumps(raw)
            _remember(_signed, key, signed)
        g.csrf_token = signed
    return g.get("csrf_token")


def validate_csrf(data) -> None:
    """flask_wtf.csrf.validate_csrf with the app's settings, the signature check kept."""
    app = current_app
    if not _kept(app.config):
        return wtf.validate_csrf(data)
    if not data:
        raise ValidationError("The CSRF token is missing.")
    if "csrf_token" not in session:
        raise ValidationError("The CSRF session token is missing.")
    key = (app.secret_key, data)
    token = _checked.get(key, _checked)
    if token is _checked:
        try:
            token = URLSafeTimedSerializer(app.secret_key, salt=SALT).loads(data, max_age=None)
        except BadData as e:  # SignatureExpired cannot happen without a time limit
            raise ValidationError("The CSRF token is invalid.") from e
        _remember(_checked, key, token)
    if not hmac.compare_digest(session["csrf_token"], token):
        raise ValidationError("The CSRF tokens do not match.")


class CSRFProtect(wtf.CSRFProtect):
    """flask_wtf's CSRFProtect (1.3) with the functions above."""

    def init_app(self, app):
        super().init_app(app)
        app.jinja_env.globals["csrf_token"] = generate_csrf
        # flask_wtf's context processor puts its own in every template's context: this one runs after it.
        app.context_processor(lambda: {"csrf_token": generate_csrf})

    def protect(self, apply_exemptions=False):
        """flask_wtf's `CSRFProtect.protect`, calling `validate_csrf` above."""
        if apply_exemptions:
            if not request.endpoint:
                return
            if self._is_exempt():
                return
        if request.method not in current_app.config["WTF_CSRF_METHODS"]:
            return
        try:
            validate_csrf(self._get_csrf_token())
        except ValidationError as e:
            log.info(e.args[0])
            self._error_response(e.args[0])
        if request.is_secure and current_app.config["WTF_CSRF_SSL_STRICT"]:
            if not request.referrer:
                self._error_response("The referrer header is missing.")
            good_referrer = f"https://{request.host}/"
            if not wtf.same_origin(request.referrer, good_referrer):
                self._error_response("The referrer does not match the host.")
        g.csrf_valid = True  # mark this request as CSRF valid
