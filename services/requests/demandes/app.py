"""The requests service's internal HTTP API (operations named in openapi.yaml)."""
from pathlib import Path

from connexion.middleware import MiddlewarePosition
from starlette.formparsers import MultiPartException

from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.web import create_app as create_service_app
from servicekit.web import problem_connexion_response

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
    app.api.add_error_handler(MultiPartException, _malformed_multipart)
    return app


async def _malformed_multipart(_request, _exc):
    # connexion's form validator lets starlette's parse error through (a 500 otherwise).
    return problem_connexion_response(400, "Le formulaire envoyé est mal formé (multipart/form-data invalide).")
