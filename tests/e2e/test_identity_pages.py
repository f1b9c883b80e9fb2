"""identity's own pages a parent meets when a sibling portal signs them in (consent) and when
they sign out (confirmation), reached through the gateway: French, accessible, and doing what
they say."""
import base64
import hashlib
import secrets
from urllib.parse import urlencode

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
PORTAL_REDIRECT = "http://127.0.0.1:8765/callback"


def portal_authorize_url(base_url: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return f"{base_url}/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": "demo-portal", "redirect_uri": PORTAL_REDIRECT,
        "scope": "openid email profile", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge, "code_challenge_method": "S256"})


def test_portal_consent_then_sign_out_confirmation(platform, page, a11y, identity_login):
    email, password = DEMO_PARENT
    page.goto(portal_authorize_url(platform.base_url))
    identity_login(page, email, password)

    # demo-portal is not first-party: the parent is asked, in French, what it may read.
    page.wait_for_url("**/oidc/**")
    assert "Autoriser « " in page.locator("h1").inner_text()
    assert page.get_by_role("button", name="Autoriser").is_visible()
    assert page.get_by_role("button", name="Refuser").is_visible()
    a11y(page)

    # Signing out from the portal without an id_token_hint asks for confirmation first.
    page.goto(f"{platform.base_url}/oidc/end-session?" + urlencode({"client_id": "demo-portal"}))
    assert "Voulez-vous vous déconnecter" in page.locator("h1").inner_text()
    a11y(page)
    page.get_by_role("button", name="Me déconnecter").click()
    page.wait_for_load_state()
    # The SSO session is over: the portal's next sign-in shows the login page again.
    page.goto(portal_authorize_url(platform.base_url))
    page.wait_for_url("**/oidc/login**")
    a11y(page)
