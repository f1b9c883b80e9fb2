from pathlib import Path

from servicekit.projections import families as families_projection
from servicekit.web import create_app as create_service_app

from demandes.db import get_db
from demandes.models import families
from demandes.settings import get_settings


def create_app():
    app = create_service_app(get_settings(), get_db(), Path(__file__).with_name("openapi.yaml"), "demandes.api")
    families_projection.install_api(app, families)
    return app
