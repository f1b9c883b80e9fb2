import datetime as dt
from pathlib import Path

from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.web import create_app as create_service_app

from booking.db import get_db
from booking.domain.closures import load_calendars
from booking.models import agents, families
from booking.settings import get_settings


def create_app():
    load_calendars(dt.date.today())
    app = create_service_app(get_settings(), get_db(), Path(__file__).with_name("openapi.yaml"), "booking.api")
    families_projection.install_api(app, families)
    agents_projection.install_check(app, agents)  # an agent removed in identity is refused
    return app
