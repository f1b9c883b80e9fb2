from pathlib import Path

from servicekit.db import Database
from servicekit.web import create_app as create_service_app

from booking.settings import get_settings


def create_app():
    settings = get_settings()
    return create_service_app(settings, Database(settings.database_url),
                              Path(__file__).with_name("openapi.yaml"), "booking.api")
