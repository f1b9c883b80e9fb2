from pathlib import Path

from servicekit.web import create_app as create_service_app

from notify.db import get_db
from notify.settings import get_settings


def create_app():
    return create_service_app(get_settings(), get_db(), Path(__file__).with_name("openapi.yaml"), "notify.api")
