from pathlib import Path

from servicekit.web import create_app as create_service_app

from identity.db import get_db
from identity.settings import get_settings


def create_app():
    settings = get_settings()
    app = create_service_app(settings, get_db(), Path(__file__).with_name("openapi.yaml"), "identity.api")
    return app
