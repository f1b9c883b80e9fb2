import re

from helpers import AGENT, PARENT, sign_in


def test_signed_in_user_is_shown_and_session_refreshed(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    clock.advance(29 * 60)
    page = client.get("/")
    assert "Camille Martin" in page.text and "Se déconnecter" in page.text
    assert "ef_session=" in page.headers["set-cookie"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    clock.advance(29 * 60)  # 58 min after sign-in, but only 29 min idle
    assert client.get("/api/me").json()["sub"] == "parent-1"


def test_idle_session_expires_after_30_minutes(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    clock.advance(30 * 60 + 1)
    assert client.get("/api/me").status_code == 401
    assert "Camille Martin" not in client.get("/").text


def test_session_expires_after_12_hours_even_when_active(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    for _ in range(25):  # active every 29 minutes: 12 h 05
        clock.advance(29 * 60)
        last = client.get("/api/me")
    assert last.status_code == 401
    clock.advance(-29 * 60)


def test_active_session_lives_until_the_absolute_limit(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    for _ in range(24):  # 11 h 36
        clock.advance(29 * 60)
        assert client.get("/api/me").status_code == 200


def test_secure_cookie_outside_development_and_test(make_gateway, clock):
    app = make_gateway(EF_ENV="production", GATEWAY_SECRET_KEY="x" * 40, SERVICE_TOKEN_SECRET="y" * 40,
                       GATEWAY_OIDC_SECRET="z" * 40)
    assert app.app.config["SESSION_COOKIE_SECURE"] is True


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_form_post_without_csrf_token_is_refused(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    resp = client.post("/auth/logout", follow_redirects=False)
    assert resp.status_code == 400
    assert "Le formulaire a expiré" in resp.text
    assert client.get("/api/me").status_code == 200  # still signed in


def test_form_post_with_csrf_token_signs_out(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    token = _csrf_token(client.get("/").text)
    resp = client.post("/auth/logout", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 302
    assert client.get("/api/me").status_code == 401


def test_agent_switches_commune_only_to_one_of_theirs(client, flask_app, clock):
    sign_in(client, flask_app, AGENT, clock.now, commune="heillecourt")
    home = client.get("/")
    assert 'id="commune-switch"' in home.text and "Espace agent" in home.text
    token = _csrf_token(home.text)
    ok = client.post("/auth/commune", data={"csrf_token": token, "commune": "ludres", "next": "/aide"},
                     follow_redirects=False)
    assert ok.status_code == 302 and ok.headers["location"].endswith("/aide")
    assert "Vous agissez maintenant pour Ludres" in client.get("/").text
    refused = client.post("/auth/commune", data={"csrf_token": token, "commune": "nancy"})
    assert refused.status_code == 403 and "Accès refusé" in refused.text


def test_parent_sees_no_agent_space_and_no_dead_links(client, flask_app, clock):
    sign_in(client, flask_app, PARENT, clock.now)
    html = client.get("/").text
    assert "Espace agent" not in html
    for href in re.findall(r'href="(/[^"#]*)"', html):
        if href.startswith("/static/"):
            continue
        # Sections that call a service answer 503 here (no services running): not a dead link.
        assert client.get(href, follow_redirects=False).status_code in (200, 302, 503), href


def test_the_idle_time_is_stamped_at_most_once_a_minute(client, flask_app, clock):
    from gateway import sessions

    sign_in(client, flask_app, PARENT, clock.now)
    assert "ef_session=" in client.get("/").headers["set-cookie"]  # the page's CSRF token joins the session
    clock.advance(sessions.STAMP_SECONDS - 1)
    quiet = client.get("/")
    assert "Camille Martin" in quiet.text and "set-cookie" not in quiet.headers  # nothing changed: no cookie
    clock.advance(2)  # the stamp is a minute old: stamped again, the cookie written (and its expiry) again
    assert "ef_session=" in client.get("/").headers["set-cookie"]
    clock.advance(sessions.STAMP_SECONDS - 1)
    assert client.get("/api/me").status_code == 200  # not stamped again
    clock.advance(30 * 60 - sessions.STAMP_SECONDS + 2)
    # 30 min and 1 s since the stamp, 29 min and 2 s since the last request: ended (never later than before)
    assert client.get("/api/me").status_code == 401
