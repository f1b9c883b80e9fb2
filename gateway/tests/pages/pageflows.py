"""Steps the page tests share: signing in, reading forms, registering and activating a family."""
from __future__ import annotations

import html
import re
import time
import uuid
from urllib.parse import parse_qs, urlparse


def text(response) -> str:
    """The page's HTML with entities decoded (Jinja escapes apostrophes as &#39;)."""
    return html.unescape(response.get_data(as_text=True))


def sign_in(client, user: dict, commune: str | None = None) -> None:
    """Put `user` in the gateway session, as the OIDC callback does after a real sign-in."""
    now = time.time()
    with client.session_transaction() as sess:
        sess.clear()
        sess.update({"user": user, "auth_at": now, "seen_at": now, "_permanent": True})
        if commune:
            sess["commune"] = commune


def sign_out(client) -> None:
    with client.session_transaction() as sess:
        sess.clear()


def csrf_token(client, path: str) -> str:
    """The CSRF token of the form on `path`, fetched as a browser would."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', text(page))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def post_form(client, page_path: str, action: str, data: dict):
    """Submit a form of `page_path` to `action` with its CSRF token."""
    return client.post(action, data={"csrf_token": csrf_token(client, page_path), **data})


def unique_email(prefix: str = "parent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


def field_error(html: str, name: str) -> str | None:
    """The error message shown next to field `name` (None when there is none)."""
    match = re.search(rf'<p class="field-error" id="{re.escape(name)}-erreur">(.*?)</p>', html, re.S)
    if not match:
        return None
    return re.sub(r"<[^>]+>", "", match.group(1)).replace("Erreur : ", "").strip()


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input [^>]*id="{re.escape(name)}"[^>]*>', html)
    if not match:
        return None
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as sess:
        return list(sess.get("_flashes", []))


def login_target(response) -> str:
    """For a redirect to the sign-in page: the `next` it will come back to."""
    location = response.headers["Location"]
    parsed = urlparse(location)
    assert parsed.path == "/auth/login", location
    return parse_qs(parsed.query)["next"][0]


PROFILE = {"family_name": "Martin", "given_name": "Camille", "birth_date": "1985-07-14",
           "street": "12 rue des Écoles", "postcode": "54180", "city": "Heillecourt", "phone": "06 12 34 56 78"}
PASSWORD = "une phrase de passe assez longue"


def register_family(client, agent: dict, commune: dict, family_name: str, email: str):
    sign_in(client, agent, commune["slug"])
    return post_form(client, "/agent/familles", "/agent/familles", {"family_name": family_name, "email": email})


def activate(client, identity, path: str, email: str, profile: dict | None = None) -> None:
    """Complete both activation steps from the link path; leaves the browser signed out."""
    sign_out(client)
    resp = post_form(client, path + "/profil", path + "/profil", {**PROFILE, **(profile or {}), "email": email})
    assert resp.status_code == 302, text(resp)
    resp = post_form(client, path + "/mot-de-passe", path + "/mot-de-passe", {"password": PASSWORD})
    assert resp.status_code == 302, text(resp)


def new_family(client, identity, agent: dict, commune: dict, family_name: str = "Martin") -> dict:
    """A family registered by `agent` and activated by its parent; returns the parent's session user."""
    email = unique_email()
    resp = register_family(client, agent, commune, family_name, email)
    assert resp.status_code == 302, text(resp)
    activate(client, identity, identity.link_for(email), email)
    return identity.user(email)


# --- pages in headless Chromium (axe-core, widths, screenshots) --------------------------------------
CHROMIUM = "/usr/bin/chromium"


def serious_violations(page) -> list[str]:
    """The ids of axe-core's serious and critical violations on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe

    return [v["id"] for v in Axe().run(page).response["violations"] if v.get("impact") in ("serious", "critical")]


def browser_pages(app, cookie: str, widths=(360, 1280)):
    """For each width: (width, a signed-in Chromium page, the app's base URL), the app served on
    a loopback port; each page's context is closed when the next width comes."""
    import os

    from helpers import serve
    from playwright.sync_api import sync_playwright

    with serve(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM", CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"])
        try:
            for width in widths:
                context = browser.new_context(viewport={"width": width, "height": 900}, locale="fr-FR")
                context.add_cookies([{"name": "ef_session", "value": cookie, "url": url}])
                try:
                    yield width, context.new_page(), url
                finally:
                    context.close()
        finally:
            browser.close()
