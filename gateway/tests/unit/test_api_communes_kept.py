"""GET /api/communes: identity's public answer kept GATEWAY_COMMUNES_KEPT_SECONDS per process; a
change at identity shows within that bound; a failure is never kept; 0 keeps nothing."""
import pytest
from flask import jsonify

from helpers import SERVICE_SECRET, closed_port, fake_service, make_settings, migrate, served

from gateway import api
from gateway.app import create_app


class Ticks:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def identity():
    app = fake_service("fake-identity", "identity")
    app.communes = [{"slug": "heillecourt", "name": "Heillecourt"}]
    app.failing = False

    @app.get("/internal/communes")
    def communes():
        app.caller()
        if app.failing:
            return jsonify({"detail": "panne"}), 500
        return jsonify({"items": app.communes})

    with served(app):
        yield app


@pytest.fixture
def ticks(monkeypatch):
    clock = Ticks()
    # This module's clock only: the service tokens' reuse (clients.service_token) keeps real time,
    # or a token minted over 60 s earlier by another test would look fresh and identity refuse it.
    monkeypatch.setattr(api, "monotonic", clock)
    return clock


def _client(tmp_path, identity_url, **env):
    settings = make_settings(tmp_path, IDENTITY_URL=identity_url, SERVICE_TOKEN_SECRET=SERVICE_SECRET, **env)
    migrate(settings)
    return create_app(settings).test_client()


def test_the_communes_are_asked_once_per_bound_and_a_change_shows_within_it(tmp_path, identity, ticks):
    with _client(tmp_path, identity.base) as client:
        assert client.get("/api/communes").json() == {"items": [{"slug": "heillecourt", "name": "Heillecourt"}]}
        identity.communes = [*identity.communes, {"slug": "ludres", "name": "Ludres"}]
        ticks.now += 5 - 0.1  # the default bound
        assert len(client.get("/api/communes").json()["items"]) == 1  # kept: identity not asked
        assert len(identity.seen) == 1
        ticks.now += 0.1
        assert [c["slug"] for c in client.get("/api/communes").json()["items"]] == ["heillecourt", "ludres"]
        assert len(identity.seen) == 2 and identity.seen[-1][0].role == "anonymous"


def test_a_bound_of_zero_asks_identity_at_every_request(tmp_path, identity, ticks):
    with _client(tmp_path, identity.base, GATEWAY_COMMUNES_KEPT_SECONDS="0") as client:
        client.get("/api/communes")
        identity.communes = [*identity.communes, {"slug": "ludres", "name": "Ludres"}]
        assert len(client.get("/api/communes").json()["items"]) == 2  # same instant, asked again
        assert len(identity.seen) == 2


def test_a_failure_is_not_kept(tmp_path, identity, ticks):
    with _client(tmp_path, identity.base) as client:
        identity.failing = True
        assert client.get("/api/communes").status_code == 503
        identity.failing = False
        assert client.get("/api/communes").status_code == 200  # asked again at once


def test_an_unreachable_identity_is_a_503(tmp_path, ticks):
    with _client(tmp_path, f"http://127.0.0.1:{closed_port()}") as client:
        assert client.get("/api/communes").status_code == 503
