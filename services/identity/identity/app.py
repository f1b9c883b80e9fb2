from pathlib import Path

from servicekit.web import create_app as create_service_app
from werkzeug.middleware.proxy_fix import ProxyFix

import identity.oidc
import identity.signin

from identity.db import get_db
from identity.settings import get_settings


def create_app():
    settings = get_settings()
    app = create_service_app(settings, get_db(), Path(__file__).with_name("openapi.yaml"), "identity.api")
    identity.signin.init_app(app.app, settings, get_db())
    identity.oidc.init_app(app.app, settings, get_db())
    # The gateway is the one proxy in front of identity: trust exactly one hop of
    # X-Forwarded-For/-Proto/-Host (client address for throttling, https for cookies/CSRF).
    app.add_wsgi_middleware(ProxyFix, x_for=1, x_proto=1, x_host=1)
    return app
