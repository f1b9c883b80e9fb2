"""RP-initiated logout, back-channel logout and sessions ended by the sign-in side."""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import sqlalchemy as sa


from contracts.envelope import Envelope
from servicekit.messaging.tables import outbox

from identity import sessions
from identity.oidc import logout
from identity.oidc.clients import ensure_client
from identity.oidc.models import Token
from identity.oidc.testing import PUBLIC_URL, running_provider
from identity.signin.models import SsoSessionRecord

from identity.oidc.testing import GW_REDIRECT, PORTAL_LOGOUT, PORTAL_REDIRECT, Browser, verify


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).received.append((self.path, self.headers.get("Content-Type"), parse_qs(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def rp_server():
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(tmp_path, rp_server):
    _, base = rp_server
    with running_provider(f"sqlite:///{tmp_path / 'identity.db'}") as p:
        with p.db.transaction() as s:
            ensure_client(s, "gateway", "gateway-secret", "Espace Famille", [GW_REDIRECT], True,
                          post_logout_redirect_uris=[PUBLIC_URL + "/"], backchannel_logout_uri=base + "/gateway-bcl")
            ensure_client(s, "demo-portal", "demo-portal-secret", "Portail factures", [PORTAL_REDIRECT], True,
                          post_logout_redirect_uris=[PORTAL_LOGOUT], backchannel_logout_uri=base + "/portal-bcl")
            ensure_client(s, "quiet", "quiet-secret", "Sans back-channel", ["http://127.0.0.1:8200/cb"], True)
        yield p


def deliver_backchannel(provider) -> list[str | None]:
    """Do what identity's worker does with the back-channel logout requests in the outbox
    (each at most once here); the outcome of each (None: delivered)."""
    with provider.db.read() as s:
        rows = s.execute(sa.select(outbox.c.body).where(
            outbox.c.routing_key == "backchannel_logout.requested.v1").order_by(outbox.c.seq)).all()
    done = provider.__dict__.setdefault("_delivered_events", set())
    outcomes = []
    for (body,) in rows:
        envelope = Envelope.model_validate_json(body)
        if envelope.id in done:
            continue
        done.add(envelope.id)
        try:
            with provider.db.transaction() as s:
                logout.deliver_requested(s, envelope)
            outcomes.append(None)
        except logout.BackchannelDeliveryFailed as exc:
            outcomes.append(str(exc))
    return outcomes


def _session_open(provider, sid) -> bool:
    with provider.db.read() as s:
        return s.get(SsoSessionRecord, sid).ended_at is None


def test_logout_with_id_token_hint_ends_session_revokes_tokens_and_redirects(provider, rp_server):
    received, _ = rp_server
    b = Browser(provider)
    tok = b.tokens()
    resp = b.http.get("/oidc/end-session", query_string={
        "id_token_hint": tok["id_token"], "post_logout_redirect_uri": PUBLIC_URL + "/", "state": "bye"})
    assert resp.status_code == 302 and resp.headers["Location"] == PUBLIC_URL + "/?state=bye"
    assert "ef_sso=;" in resp.headers.get("Set-Cookie", "")
    assert not _session_open(provider, b.sid)
    assert b.userinfo(tok["access_token"]).status_code == 401
    assert b.refresh(tok["refresh_token"]).json["error"] == "invalid_grant"
    # Next authorization needs a new sign-in.
    assert urlsplit(b.authorize().headers["Location"]).path == "/oidc/login"
    assert deliver_backchannel(provider) == [None]
    assert received.received


def test_back_channel_logout_token_goes_to_every_client_of_the_session(provider, rp_server):
    received, _ = rp_server
    b = Browser(provider)
    tok = b.tokens()
    code = b.code(client_id="demo-portal", redirect_uri=PORTAL_REDIRECT)
    b.exchange(code, client=("demo-portal", "demo-portal-secret"), redirect_uri=PORTAL_REDIRECT)
    b.code(client_id="quiet", redirect_uri="http://127.0.0.1:8200/cb")
    b.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"]})
    assert deliver_backchannel(provider) == [None, None]
    by_path = {path: (ctype, form) for path, ctype, form in received.received}
    assert set(by_path) == {"/gateway-bcl", "/portal-bcl"}
    for path, aud in (("/gateway-bcl", "gateway"), ("/portal-bcl", "demo-portal")):
        ctype, form = by_path[path]
        assert ctype == "application/x-www-form-urlencoded"
        token = form["logout_token"][0]
        assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
        claims = verify(provider, token, aud)
        assert claims["sid"] == b.sid and claims["sub"] == b.user.sub and "nonce" not in claims
        assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
        assert claims["jti"]


def test_logout_is_announced_once_even_if_told_twice(provider, rp_server):
    received, _ = rp_server
    b = Browser(provider)
    tok = b.tokens()
    b.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"]})
    from identity.oidc.logout import sessions_ended

    with provider.db.transaction() as s:
        sessions_ended(s, [b.sid])
    assert deliver_backchannel(provider) == [None]
    assert len(received.received) == 1


def test_logout_without_hint_asks_confirmation_in_french(provider, rp_server):
    b = Browser(provider)
    page = b.http.get("/oidc/end-session", query_string={"client_id": "demo-portal",
                                                          "post_logout_redirect_uri": PORTAL_LOGOUT})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Voulez-vous vous déconnecter" in html and "Portail factures" in html
    assert _session_open(provider, b.sid)
    action = re.search(r'action="([^"]+)"', html).group(1).replace("&amp;", "&")
    ticket = re.search(r'name="ticket" value="([^"]+)"', html).group(1)
    forged = b.http.post(action, data={"ticket": "forged", "decision": "logout"})
    assert forged.status_code == 200 and _session_open(provider, b.sid)
    done = b.http.post(action, data={"ticket": ticket, "decision": "logout"})
    assert done.status_code == 302 and done.headers["Location"] == PORTAL_LOGOUT
    assert not _session_open(provider, b.sid)


def test_unregistered_post_logout_redirect_uri_is_not_followed(provider):
    b = Browser(provider)
    tok = b.tokens()
    resp = b.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"],
                                                          "post_logout_redirect_uri": "http://127.0.0.1:9/evil"})
    assert resp.status_code == 200 and "Location" not in resp.headers
    assert "Vous êtes déconnecté" in resp.get_data(as_text=True)
    assert not _session_open(provider, b.sid)


def test_hint_of_another_user_asks_confirmation(provider):
    alice, bob = Browser(provider), Browser(provider)
    tok = alice.tokens()
    page = bob.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"]})
    assert page.status_code == 200 and "Voulez-vous vous déconnecter" in page.get_data(as_text=True)
    assert _session_open(provider, bob.sid) and _session_open(provider, alice.sid)


def test_forged_id_token_hint_is_refused_without_redirect(provider):
    b = Browser(provider)
    forged = jwt.encode({"iss": "x", "aud": "gateway", "sub": b.user.sub}, "k" * 32, algorithm="HS256")
    resp = b.http.get("/oidc/end-session", query_string={"id_token_hint": forged,
                                                          "post_logout_redirect_uri": PUBLIC_URL + "/"})
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert _session_open(provider, b.sid)


def test_logout_without_session_just_says_so(provider):
    b = Browser(provider, signed_in=False)
    resp = b.http.get("/oidc/end-session")
    assert resp.status_code == 200 and "Vous êtes déconnecté" in resp.get_data(as_text=True)


def test_sessions_ended_by_the_sign_in_side_revoke_tokens(provider, rp_server):
    """A password reset ends every session of the user through identity.sessions."""
    received, _ = rp_server
    b = Browser(provider)
    tok = b.tokens()
    with provider.db.transaction() as s:
        ended = sessions.end_all_for_user(s, b.user.id, reason="password_reset")
    assert ended == [b.sid]
    assert b.userinfo(tok["access_token"]).status_code == 401
    with provider.db.read() as s:
        assert {r.revoke_reason for r in s.scalars(sa.select(Token))} == {"session_ended"}
    assert deliver_backchannel(provider) == [None]
    assert received.received


def test_unreachable_back_channel_does_not_hold_up_the_page(provider, rp_server, caplog):
    import time

    with provider.db.transaction() as s:
        # Nothing listens there: the page does not wait for it; the worker's attempt fails
        # (and raises, so that the consumer retries it later).
        ensure_client(s, "gateway", "gateway-secret", "Espace Famille", [GW_REDIRECT], True,
                      backchannel_logout_uri="http://127.0.0.1:9/unreachable")
    b = Browser(provider)
    tok = b.tokens()
    started = time.monotonic()
    resp = b.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"]})
    assert resp.status_code == 200 and time.monotonic() - started < 1.0
    [outcome] = deliver_backchannel(provider)
    assert outcome and "ConnectionError" in outcome
    assert any("back-channel logout to gateway" in r.getMessage() for r in caplog.records)


def test_a_failing_client_answer_is_a_failure_to_retry(provider, rp_server):
    received, _ = rp_server
    received.status = 503
    b = Browser(provider)
    tok = b.tokens()
    b.http.get("/oidc/end-session", query_string={"id_token_hint": tok["id_token"]})
    assert deliver_backchannel(provider) == ["HTTP 503"]
    assert len(received.received) == 1
