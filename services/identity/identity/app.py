from pathlib import Path

from flask import Flask
from servicekit.web import create_app as create_service_app
from servicekit.forwarded import ProxyHeaders

import identity.oidc
import identity.signin

from identity.db import get_db
from identity.settings import get_settings


def create_app():
    """Identity's app: the internal API (async, connexion) and the sign-in and OIDC pages (Flask)."""
    settings = get_settings()
    pages = Flask("identity", root_path=str(Path(__file__).resolve().parent))
    app = create_service_app(settings, get_db(), Path(__file__).with_name("openapi.yaml"), "identity.api",
                             pages=pages)
    identity.signin.init_app(pages, settings, get_db())
    identity.oidc.init_app(pages, settings, get_db())
    # The gateway is the proxy in front of identity's pages: its X-Forwarded-For/-Proto are
    # believed when it is a trusted peer (FORWARDED_ALLOW_IPS), for per-client sign-in
    # throttling and https cookies/CSRF; it passes the browser's Host through.
    pages.wsgi_app = ProxyHeaders(pages.wsgi_app, settings.forwarded_allow_ips)
    return app
