import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import make_settings, migrate  # noqa: E402

from gateway import auth  # noqa: E402
from gateway.app import create_app  # noqa: E402


class Clock:
    def __init__(self, start: float = 1_900_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    c = Clock()
    auth.set_clock(c)
    yield c
    import time
    auth.set_clock(time.time)


@pytest.fixture
def make_gateway(tmp_path):
    """Build a gateway app (migrated SQLite database) with settings overrides."""
    def factory(**env):
        settings = make_settings(tmp_path, **env)
        migrate(settings)
        return create_app(settings)
    return factory


@pytest.fixture
def gateway_app(make_gateway):
    return make_gateway()


@pytest.fixture
def flask_app(gateway_app):
    return gateway_app.app


@pytest.fixture
def client(gateway_app):
    with gateway_app.test_client() as c:
        yield c
