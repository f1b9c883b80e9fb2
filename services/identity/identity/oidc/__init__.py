"""The OpenID Connect provider of Espace Famille (Authlib), mounted under /oidc.

`identity.models` imports `identity.oidc.models` so that Alembic sees the tables; keep this
module free of imports at load time (the app pieces are imported by `init_app`).
"""
from __future__ import annotations


def init_app(flask_app, settings, db) -> None:
    """Mount discovery, JWKS, authorize, token, userinfo, revocation, introspection and
    end-session on identity's Flask app."""
    from identity.oidc.server import build_server
    from identity.oidc.views import bp

    flask_app.config["OIDC_SETTINGS"] = settings
    flask_app.config["OIDC_DB"] = db
    flask_app.extensions["oidc_server"] = build_server()
    flask_app.register_blueprint(bp)
    # Token, revocation and introspection are called by servers, not browsers; the provider's
    # own forms (consent, logout) carry single-use tickets bound to the SSO session instead.
    try:
        from identity.signin import CSRF_EXEMPT_BLUEPRINTS
    except ImportError:
        CSRF_EXEMPT_BLUEPRINTS = None
    if CSRF_EXEMPT_BLUEPRINTS is not None:
        CSRF_EXEMPT_BLUEPRINTS.add(bp.name)
    csrf = flask_app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
