"""The sign-in side of the provider: login pages, TOTP, password reset, CSRF for identity.

`init_app(flask_app, settings, db)` (called once from identity.app) registers the pages under
/oidc/ and turns on CSRF protection for every form of identity's Flask app.

CSRF exemptions: endpoints that are not cookie-authenticated (OAuth token, revocation,
introspection, userinfo, back-channel calls) add their Flask endpoint names to
`CSRF_EXEMPT_ENDPOINTS` (or their blueprint names to `CSRF_EXEMPT_BLUEPRINTS`) at import or
registration time; the sets are read on every request, so order does not matter. Flask-WTF's
own `app.extensions["csrf"].exempt(view_or_blueprint)` is honoured too (only once this
init_app has run). The internal API served by connexion (service-token authenticated) is
exempt automatically.
"""
from __future__ import annotations

CSRF_EXEMPT_ENDPOINTS: set[str] = set()
CSRF_EXEMPT_BLUEPRINTS: set[str] = set()


def init_app(flask_app, settings, db) -> None:
    # Imported here so that `identity.sessions` and the models can import this package
    # without pulling in Flask views.
    from identity.signin.setup import install

    install(flask_app, settings, db)
