"""Fixtures: the portal against stand-ins (mesfactures_fakes) on real loopback ports."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mesfactures_fakes import CLIENT_ID, CLIENT_SECRET, ISSUER, PARENT_CLAIMS, FakeApi, make_settings  # noqa: E402
from helpers import FakeIdentity, serve  # noqa: E402  (gateway/tests/helpers.py, put on the path by mesfactures_fakes)

from mesfactures.app import create_app  # noqa: E402


@pytest.fixture
def identity():
    fake = FakeIdentity(ISSUER, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    fake.claims = dict(PARENT_CLAIMS)
    with serve(fake.app) as base:
        fake.base = base
        yield fake


@pytest.fixture
def api():
    fake = FakeApi()
    with serve(fake.app) as base:
        fake.base = base
        yield fake


@pytest.fixture
def app(identity, api, tmp_path):
    return create_app(make_settings(identity.base, api.base, tmp_path))


@pytest.fixture
def client(app):
    with app.test_client() as c:
        yield c
