"""Fixtures of booking's integration tests (booking_testkit holds them and the helpers)."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from booking_testkit import SECRET, app, client, db, db_url, world  # noqa: E402,F401
from requests_standin import RequestsStandIn, serve  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def requests_standin():
    """requests' dossier check over real HTTP (requests_standin), where every app of the session
    asks it (REQUESTS_URL, read when an app's settings are loaded). By default no commune
    requires anything: every dossier is complete."""
    from booking import dossiers

    standin = RequestsStandIn(SECRET)
    httpd = serve(standin)
    saved = os.environ.get("REQUESTS_URL")
    os.environ["REQUESTS_URL"] = standin.url
    dossiers._client.cache_clear()
    yield standin
    httpd.shutdown()
    httpd.server_close()
    dossiers._client.cache_clear()
    if saved is None:
        os.environ.pop("REQUESTS_URL", None)
    else:
        os.environ["REQUESTS_URL"] = saved
