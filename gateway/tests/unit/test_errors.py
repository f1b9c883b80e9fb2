from flask import abort

from helpers import closed_port, make_settings, migrate, sign_in, PARENT

from gateway import auth, clients
from gateway.app import create_app


def test_unknown_page_is_a_french_404_page(client):
    resp = client.get("/nulle-part")
    assert resp.status_code == 404
    assert 'lang="fr"' in resp.text and "Page introuvable" in resp.text


def test_api_errors_are_problem_json(client):
    resp = client.get("/api/nulle-part")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == 404


def test_unavailable_service_is_a_french_503_page_and_problem(tmp_path):
    settings = make_settings(tmp_path, BOOKING_URL=f"http://127.0.0.1:{closed_port()}",
                             IDENTITY_URL=f"http://127.0.0.1:{closed_port()}")
    migrate(settings)
    app = create_app(settings)

    @app.app.get("/essai-reservations")
    def _calls_booking():
        return clients.booking().get("/internal/anything")

    with app.test_client() as c:
        page = c.get("/essai-reservations")
        assert page.status_code == 503
        assert "Le service est momentanément indisponible" in page.text and "Traceback" not in page.text
        api = c.get("/api/communes")
        assert api.status_code == 503
        assert api.headers["content-type"].startswith("application/problem+json")
        assert api.json()["detail"].startswith("Le service est momentanément indisponible")


def test_unexpected_exception_is_a_french_500_page(gateway_app):
    @gateway_app.app.get("/essai-panne")
    def _boom():
        raise RuntimeError("boom")

    with gateway_app.test_client() as c:
        resp = c.get("/essai-panne")
    assert resp.status_code == 500 and "Erreur technique" in resp.text and "boom" not in resp.text


def test_agent_required_gives_parents_a_french_403(gateway_app, clock):
    @gateway_app.app.get("/essai-agent")
    @auth.agent_required
    def _agent_page():
        return "ok"

    with gateway_app.test_client() as c:
        anonymous = c.get("/essai-agent", follow_redirects=False)
        assert anonymous.status_code == 302 and "/auth/login?next=/essai-agent" in anonymous.headers["location"]
        sign_in(c, gateway_app.app, PARENT, clock.now)
        parent = c.get("/essai-agent")
        assert parent.status_code == 403 and "Accès refusé" in parent.text


def test_dev_mails_page_is_404_outside_development(client):
    assert client.get("/dev/mails/").status_code == 404
