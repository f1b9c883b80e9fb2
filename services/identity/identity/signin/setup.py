"""Wiring of the sign-in pages into identity's Flask app (see `identity.signin.init_app`)."""
from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from identity.signin import CSRF_EXEMPT_BLUEPRINTS, CSRF_EXEMPT_ENDPOINTS

# connexion registers the OpenAPI operations on blueprints created in this module.
_CONNEXION_BLUEPRINT_MODULE = "connexion.apps.flask"

csrf = CSRFProtect()


def install(flask_app: Flask, settings, db) -> None:
    from identity.signin import enrol_views  # noqa: F401  (registers the enrolment link's page)
    from identity.signin.views import blueprint

    secure = settings.ef_env not in ("development", "test")
    flask_app.secret_key = settings.identity_secret_key
    flask_app.config.update(
        # The gateway has its own "session" cookie on the same origin: use another name and
        # scope it to identity's paths.
        SESSION_COOKIE_NAME="ef_idp",
        SESSION_COOKIE_PATH="/oidc",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # We decide per request below which endpoints are checked.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    flask_app.extensions["ef_signin"] = {"settings": settings, "db": db}
    csrf.init_app(flask_app)
    flask_app.before_request(_csrf_guard)
    flask_app.register_error_handler(CSRFError, _csrf_failed)
    flask_app.register_blueprint(blueprint)


def is_csrf_exempt(flask_app: Flask, endpoint: str | None, blueprint_name: str | None) -> bool:
    if endpoint is None:  # no route matched: a 404 will follow
        return True
    if endpoint in CSRF_EXEMPT_ENDPOINTS or blueprint_name in CSRF_EXEMPT_BLUEPRINTS:
        return True
    blueprint = flask_app.blueprints.get(blueprint_name) if blueprint_name else None
    # The internal API authenticates with bearer service tokens, never with cookies.
    return blueprint is not None and blueprint.import_name == _CONNEXION_BLUEPRINT_MODULE


def _csrf_guard():
    from flask import current_app

    if not is_csrf_exempt(current_app, request.endpoint, request.blueprint):
        # apply_exemptions: also honour `csrf.exempt(view_or_blueprint)` made by other parts.
        csrf.protect(apply_exemptions=True)


def _csrf_failed(_error: CSRFError):
    message = ("Ce formulaire a expiré ou n'a pas pu être vérifié (protection contre la falsification "
               "de requêtes). Rechargez la page et recommencez.")
    return render_template("signin_error.html", title="Formulaire expiré", message=message), 400
