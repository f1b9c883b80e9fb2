"""The requests service's internal HTTP API (operations named in openapi.yaml)."""
from pathlib import Path

from connexion.middleware import MiddlewarePosition

from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.web import create_app as create_service_app

from demandes import upload_limit
from demandes.db import get_db
from demandes.models import agents, families
from demandes.settings import get_settings


def create_app():
    settings = get_settings()
    app = create_service_app(settings, get_db(), Path(__file__).with_name("openapi.yaml"), "demandes.api")
    families_projection.install_api(app, families)
    agents_projection.install_check(app, agents)  # an agent removed in identity is refused
    app.add_middleware(upload_limit.make_middleware(settings.requests_max_file_bytes),
                       position=MiddlewarePosition.BEFORE_EXCEPTION)
    return app
