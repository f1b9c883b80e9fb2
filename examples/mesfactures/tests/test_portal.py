"""Mes factures en ligne: sign-in through identity (code + PKCE), the family's invoices through
the gateway's API with the parent's access token, single logout both ways."""
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from mesfactures_fakes import CLIENT_ID, ISSUER, PORTAL, TO_PAY, make_settings, sign_in
from helpers import closed_port

from mesfactures.app import create_app, date_fr, euros
from mesfactures.settings import ConfigError, from_env

LOGOUT_EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}


def text(resp) -> str:
    return re.sub(r"[ \t\r\n]+", " ", unescape(resp.get_data(as_text=True)))  # keeps no-break spaces


def csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def logout_token(identity, **claims) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": f"j{now}", "events": LOGOUT_EVENT}
    base.update(claims)
    return identity.key.sign({k: v for k, v in base.items() if v is not None})


def test_a_visitor_gets_a_french_page_with_a_sign_in_button(client, api):
    html = text(client.get("/"))
    assert '<html lang="fr">' in html and "Se connecter avec mon compte Espace Famille" in html
    assert api.seen == []


def test_login_is_the_code_flow_with_pkce_s256_state_nonce_and_the_invoices_scope(client):
    resp = client.get("/auth/login")
    target = urlsplit(resp.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == ISSUER + "/authorize"  # browser-facing
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["scope"] == "openid invoices:read" and query["redirect_uri"] == PORTAL + "/auth/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["state"] and query["nonce"]


def test_signed_in_the_family_invoices_come_from_the_api_with_the_access_token(client, identity, api):
    sign_in(client, identity)
    resp = client.get("/")
    html = text(resp)
    assert resp.status_code == 200 and "Camille Martin" in html
    to_pay, paid = html.split("Factures payées", 1)
    assert "F-2026-09-0000012" in to_pay and "1\u00a0234,56\u00a0€" in to_pay and "15 octobre 2026" in to_pay
    assert "F-2026-08-0000005" in paid and "42,00\u00a0€" in paid and "Payer" not in paid.replace("payées", "")
    assert 'href="http://famille.test/factures?payer=inv-1#a-payer"' in to_pay
    assert {s["args"]["status"] for s in api.seen} == {"to_pay", "paid"}
    assert all(s["authorization"].startswith("Bearer at-") for s in api.seen)
    # The token went through the back channel (PKCE verifier and client secret), never to the browser.
    assert identity.token_requests[-1]["form"]["code_verifier"]
    assert "at-" not in (client.get_cookie("mesfactures_session").value or "")


def test_a_forged_state_is_refused(client, identity):
    resp = client.get("/auth/login")
    query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    code = identity.authorize(query)
    resp = client.get(f"/auth/callback?code={code}&state=forged")
    assert resp.status_code == 400 and "La connexion n'a pas abouti" in text(resp)


def test_a_refused_consent_comes_back_to_a_french_page(client):
    resp = client.get("/auth/callback?error=access_denied&state=x")
    assert resp.status_code == 400 and "Se connecter" in text(resp)


def test_a_rejected_token_signs_in_again(client, identity, api, monkeypatch):
    sign_in(client, identity)
    api.answer_status = 401
    monkeypatch.setattr("mesfactures.app.FRESH_TOKEN_SECONDS", 0)  # the token has lived long enough
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    api.answer_status = 200
    assert "Se connecter avec mon compte" in text(client.get("/"))  # the local session is gone


def test_a_fresh_token_refused_is_an_error_page_not_a_sign_in_loop(client, identity, api):
    sign_in(client, identity)
    api.answer_status = 401
    resp = client.get("/")
    assert resp.status_code == 503 and "refuse la connexion" in text(resp)


def test_an_account_without_a_family_gets_a_french_403(client, identity, api):
    sign_in(client, identity)
    api.answer_status = 403
    resp = client.get("/")
    assert resp.status_code == 403 and "aucune famille" in text(resp)


def test_the_api_down_is_a_french_503(identity, tmp_path):
    app = create_app(make_settings(identity.base, f"http://127.0.0.1:{closed_port()}", tmp_path))
    with app.test_client() as c:
        sign_in(c, identity)
        resp = c.get("/")
        assert resp.status_code == 503 and "ne répond pas" in text(resp)


def test_identity_down_is_a_french_503_at_login(api, tmp_path):
    app = create_app(make_settings(f"http://127.0.0.1:{closed_port()}", api.base, tmp_path))
    with app.test_client() as c:
        resp = c.get("/auth/login")
        assert resp.status_code == 503 and "ne répond pas" in text(resp)


def test_logout_ends_the_local_session_then_identitys(client, identity):
    sign_in(client, identity)
    resp = client.post("/auth/logout", data={"csrf_token": csrf(client)})
    target = urlsplit(resp.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == ISSUER + "/logout"
    assert query["post_logout_redirect_uri"] == PORTAL + "/" and query["client_id"] == CLIENT_ID
    assert query["id_token_hint"].count(".") == 2
    assert "Se connecter avec mon compte" in text(client.get("/"))


def test_logout_without_the_csrf_token_is_refused(client, identity):
    sign_in(client, identity)
    assert client.post("/auth/logout").status_code == 400
    assert "F-2026-09-0000012" in text(client.get("/"))


def test_backchannel_logout_by_sid_ends_the_session_opened_in_it(client, identity):
    sign_in(client, identity)  # FakeIdentity's id_token has sid "sid-1"
    resp = client.post("/auth/backchannel-logout", data={"logout_token": logout_token(identity, sid="sid-1")})
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    assert "Se connecter avec mon compte" in text(client.get("/"))


def test_backchannel_logout_of_another_sid_leaves_the_session(client, identity):
    sign_in(client, identity)
    resp = client.post("/auth/backchannel-logout", data={"logout_token": logout_token(identity, sid="sid-other")})
    assert resp.status_code == 200 and "F-2026-09-0000012" in text(client.get("/"))


def test_backchannel_logout_by_subject(client, identity):
    sign_in(client, identity)
    resp = client.post("/auth/backchannel-logout", data={"logout_token": logout_token(identity, sub="parent-1")})
    assert resp.status_code == 200 and "Se connecter avec mon compte" in text(client.get("/"))


@pytest.mark.parametrize("claims", [
    {"sid": "sid-1", "nonce": "n"},               # a logout token never has a nonce
    {"sid": "sid-1", "events": {}},               # not a logout event
    {"sid": "sid-1", "aud": "gateway"},           # meant for another client
    {"sid": "sid-1", "iss": "http://evil.test"},
    {"sid": "sid-1", "jti": None},
    {},                                           # neither sid nor sub
])
def test_invalid_logout_tokens_are_refused_and_end_nothing(client, identity, claims):
    sign_in(client, identity)
    resp = client.post("/auth/backchannel-logout", data={"logout_token": logout_token(identity, **claims)})
    assert resp.status_code == 400
    assert "F-2026-09-0000012" in text(client.get("/"))


def test_a_logout_token_from_an_unknown_key_is_refused(client, identity):
    from helpers import SigningKey

    now = int(time.time())
    forged = SigningKey("key-1").sign({"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "jti": "j", "sid": "sid-1",
                                       "events": LOGOUT_EVENT})
    assert client.post("/auth/backchannel-logout", data={"logout_token": forged}).status_code == 400


def test_non_payable_online_invoices_have_no_payer_link(client, identity, api):
    api.items["to_pay"] = [{**TO_PAY, "payable_online": False, "direct_debit": True}]
    sign_in(client, identity)
    html = text(client.get("/"))
    assert "prélèvement automatique" in html and "factures?payer=" not in html


def test_french_money_and_dates():
    assert euros(123456) == "1\u00a0234,56\u00a0€" and euros(-50) == "-0,50\u00a0€" and euros(None) == "0,00\u00a0€"
    assert date_fr("2026-08-01") == "1 août 2026" and date_fr(None) == ""


def test_settings_name_what_is_missing():
    env = {"MESFACTURES_PUBLIC_URL": PORTAL, "OIDC_ISSUER": ISSUER, "PUBLIC_URL": "http://famille.test",
           "MESFACTURES_SECRET_KEY": "k"}
    with pytest.raises(ConfigError, match="MESFACTURES_CLIENT_SECRET"):
        from_env(env)
    settings = from_env({**env, "MESFACTURES_CLIENT_SECRET": "s"})
    assert settings.api_url == "http://famille.test" and settings.redirect_uri == PORTAL + "/auth/callback"
    with pytest.raises(ConfigError, match="MESFACTURES_PUBLIC_URL"):
        from_env({**env, "MESFACTURES_CLIENT_SECRET": "s", "MESFACTURES_PUBLIC_URL": "portail"})
