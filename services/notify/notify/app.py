from pathlib import Path

from servicekit.projections import agents as agents_projection
from servicekit.web import create_app as create_service_app

from notify.db import get_db
from notify.models import agents
from notify.settings import get_settings


def create_app():
    app = create_service_app(get_settings(), get_db(), Path(__file__).with_name("openapi.yaml"), "notify.api")
    agents_projection.install_check(app, agents)  # an agent removed in identity is refused
    return app
