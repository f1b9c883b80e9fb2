from pathlib import Path

from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.web import create_app as create_service_app

from billing.db import get_db
from billing.models import agents, families
from billing.settings import get_settings


def create_app():
    app = create_service_app(get_settings(), get_db(), Path(__file__).with_name("openapi.yaml"), "billing.api")
    families_projection.install_api(app, families)
    agents_projection.install_check(app, agents)  # an agent removed in identity is refused
    return app
