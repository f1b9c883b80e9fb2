"""Identity unreachable: every account page answers a French 503 page, never a 500."""
from __future__ import annotations

import os
import secrets

import pytest

from helpers import closed_port, make_settings, migrate
from pageflows import sign_in, text

AGENT = {"sub": "agent-1", "email": "agent@example.org", "name": "Alex Agent", "family_id": None, "communes": [],
         "agent_of": [{"slug": "heillecourt", "name": "Heillecourt", "role": "agent"}], "platform_role": "parent"}
PARENT = {"sub": "parent-1", "email": "parent@example.org", "name": "Camille Martin", "family_id": "f-1",
          "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": "parent"}


@pytest.fixture(scope="module")
def down_app(tmp_path_factory):
    from gateway.app import create_app
    from gateway.settings import get_settings

    var = tmp_path_factory.mktemp("gateway-down")
    env = {"IDENTITY_URL": f"http://127.0.0.1:{closed_port()}", "EF_ENV": "test", "EF_VAR_DIR": str(var),
           "DATABASE_URL": f"sqlite:///{var / 'gateway.db'}", "LOG_FORMAT": "text"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    settings = make_settings(var, **env)
    migrate(settings)
    yield create_app(settings).app
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


def _csrf(app, client) -> str:
    """A valid CSRF token for the client's session, made the way Flask-WTF makes one."""
    from itsdangerous import URLSafeTimedSerializer

    raw = secrets.token_hex(20)
    with client.session_transaction() as sess:
        sess["csrf_token"] = raw
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


@pytest.mark.parametrize("method,url,user", [
    ("GET", "/activation/abc", None), ("POST", "/activation/abc/profil", None),
    ("POST", "/activation/abc/mot-de-passe", None), ("GET", "/invitation/abc", None),
    ("POST", "/invitation/abc", None),
    ("GET", "/famille", PARENT), ("GET", "/famille/responsables", PARENT), ("GET", "/famille/enfants", PARENT),
    ("POST", "/famille/nom", PARENT), ("POST", "/famille/responsables/inviter", PARENT),
    ("POST", "/famille/enfants/ajouter", PARENT),
    ("GET", "/agent/familles", AGENT), ("POST", "/agent/familles", AGENT), ("GET", "/agent/familles.csv", AGENT),
])
def test_pages_answer_503_when_identity_is_down(down_app, method, url, user):
    with down_app.test_client() as client:
        if user:
            sign_in(client, user, "heillecourt" if user is AGENT else None)
        data = {"csrf_token": _csrf(down_app, client), "family_name": "Martin", "email": "a@example.org"}
        resp = client.open(url, method=method, data=data if method == "POST" else None)
        assert resp.status_code == 503, (url, resp.status_code)
        assert "momentanément indisponible" in text(resp)


def test_resend_when_identity_is_down_says_so_on_the_list(down_app):
    with down_app.test_client() as client:
        sign_in(client, AGENT, "heillecourt")
        resp = client.post("/agent/familles/f-1/renvoyer", data={"csrf_token": _csrf(down_app, client)})
        assert resp.status_code == 302
        with client.session_transaction() as sess:
            assert any("momentanément indisponible" in m for _c, m in sess["_flashes"])
