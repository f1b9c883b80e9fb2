"""The sibling portal "Mes factures en ligne" (examples/mesfactures, issue 9) on the real platform:
the demo parent signed in to the family space is signed in to the portal without typing a password
(single sign-on through identity), sees the family's invoice (read through the gateway's
/api/invoices with the portal's access token), and "Payer" leads to the family space with that
invoice ticked. Single logout both ways: leaving the portal ends the family space's session
(RP-initiated logout at identity, then identity's back-channel logout to the gateway), and leaving
the family space ends the portal's (back-channel logout to the portal). axe-core on every page."""
from __future__ import annotations

import datetime as dt
import os
import re
import uuid

import pytest
import requests

from servicekit.testing import wait_until

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
PORTAL_OFFSET = 10  # scripts/run_platform.py MESFACTURES_OFFSET
SIGN_IN_BUTTON = "Se connecter avec mon compte Espace Famille"
SHOTS = os.environ.get("EF_E2E_SCREENSHOTS")  # a directory: screenshots of the portal at 360 and 1280 px


def _billing_url(platform) -> str:
    if os.environ.get("EF_E2E_DB") == "postgres":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/ef_e2e_{os.getpid()}_billing"
    return f"sqlite:///{platform.var_dir / 'billing.db'}"


def _seed_invoice(platform) -> str:
    """The demo has no published invoice: one for last month's canteen, written as billing's run
    writes one (numbered in the commune's invoice series), for the demo family."""
    from billing import ledger
    from billing.domain.calendar import Month
    from billing.domain.invoicing import line_label
    from billing.domain.numbering import Series
    from billing.models import invoice_lines, invoices
    from billing.projections import day_key
    from billing.seed import COMMUNE, DEMO_CHILDREN, DEMO_FAMILY_ID
    from billing.timeutil import paris_today
    from servicekit.db import Database

    today = paris_today()
    month = Month.of(today.replace(day=1) - dt.timedelta(days=1))
    lea = DEMO_CHILDREN[0]
    days = [month.first_day + dt.timedelta(days=offset) for offset in (2, 3)]
    invoice_id = str(uuid.uuid4())
    db = Database(_billing_url(platform))
    try:
        with db.transaction() as session:
            [number] = ledger.allocate_numbers(session, COMMUNE, [(Series.INVOICE, month)])
            session.execute(invoices.insert().values(
                id=invoice_id, commune=COMMUNE, family_id=DEMO_FAMILY_ID, family_name="Martin", kind="invoice",
                origin="monthly", state="published", month=str(month), number=number, total_cents=780,
                credited_cents=0, paid_cents=0, remaining_cents=0, issued_on=today, published_on=today,
                displayed_deadline=today + dt.timedelta(days=15), last_day_online=today + dt.timedelta(days=20),
                due_on=today + dt.timedelta(days=30), direct_debit=False,
                created_at=dt.datetime.now(dt.timezone.utc), finalised_at=dt.datetime.now(dt.timezone.utc)))
            session.execute(invoice_lines.insert(), [
                {"invoice_id": invoice_id, "position": i, "day_key": day_key(lea[0], "e2e-cantine", day),
                 "child_id": lea[0], "child_name": lea[1], "prestation_id": "e2e-cantine", "prestation_label": "Repas",
                 "service_label": "Restauration scolaire", "childcare": False, "day": day, "reason": "present",
                 "unit_price_cents": 390, "amount_cents": 390, "label": line_label(lea[1], "Repas", day, None)}
                for i, day in enumerate(days)])
    finally:
        db.dispose()
    return number


@pytest.fixture(scope="module")
def portal(platform):
    url = platform.service_url(PORTAL_OFFSET)
    wait_until(lambda: _answers(url + "/health"), timeout=60, interval=0.5, message="the portal to answer")
    return url


@pytest.fixture(scope="module")
def invoice_number(platform):
    return _seed_invoice(platform)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _sign_in_to_the_family_space(page, platform, identity_login) -> None:
    page.goto(f"{platform.base_url}/auth/login?next=/factures")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/factures")


def _sign_in_to_the_portal_by_sso(page, portal, a11y) -> None:
    """Through identity without a password: at most the consent page (the portal is not first-party)."""
    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url) if frame == page.main_frame else None)
    page.goto(portal + "/")
    a11y(page)
    page.get_by_role("link", name=SIGN_IN_BUTTON).click()
    page.wait_for_url(re.compile(rf"^{re.escape(portal)}/$|.*/oidc/consent.*|.*/oidc/authorize.*"))
    if "/oidc/" in page.url:
        page.get_by_role("button", name="Autoriser").click()
    page.wait_for_url(portal + "/")
    assert not any("/oidc/login" in url for url in visited), visited  # never asked for the password
    assert page.locator("#password").count() == 0


def _shoot(page, name: str) -> None:
    if not SHOTS:
        return
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})


def _no_horizontal_scroll(page) -> None:
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 390, "height": 844})


def test_sso_into_the_portal_lists_the_invoice_and_logout_from_the_portal_ends_both(
        platform, portal, invoice_number, page, a11y, identity_login):
    _sign_in_to_the_family_space(page, platform, identity_login)
    _sign_in_to_the_portal_by_sso(page, portal, a11y)

    main = page.locator("main")
    try:
        main.get_by_role("heading", name="Factures à payer").wait_for(timeout=10_000)
    except Exception as exc:
        raise AssertionError(f"{page.url}: {main.inner_text()}") from exc
    assert invoice_number in main.inner_text() and "7,80" in main.inner_text()
    a11y(page)
    _no_horizontal_scroll(page)
    _shoot(page, "mesfactures-factures")

    # "Payer" leads to the family space, still signed in, with that invoice ticked.
    page.get_by_role("link", name=re.compile(rf"^Payer la facture {re.escape(invoice_number)}")).click()
    page.wait_for_url(re.compile(re.escape(platform.base_url) + r"/factures\?payer="))
    ticked = page.locator("input[name=facture]:checked")
    label = page.locator(f"label[for='{ticked.get_attribute('id')}']")
    assert ticked.count() == 1 and invoice_number in label.inner_text()
    a11y(page)

    # Logging out of the portal ends identity's session, and with it the family space's.
    page.goto(portal + "/")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(portal + "/")
    page.get_by_role("link", name=SIGN_IN_BUTTON).wait_for()
    a11y(page)
    _shoot(page, "mesfactures-accueil")

    def family_space_asks_to_sign_in():
        page.goto(f"{platform.base_url}/factures")
        return "/oidc/login" in page.url

    wait_until(family_space_asks_to_sign_in, timeout=30, interval=1,
               message="the family space to ask for a sign-in after the portal's logout")


def test_logout_from_the_family_space_ends_the_portals_session(
        platform, portal, invoice_number, page, a11y, identity_login):
    _sign_in_to_the_family_space(page, platform, identity_login)
    _sign_in_to_the_portal_by_sso(page, portal, a11y)
    assert invoice_number in page.locator("main").inner_text()

    page.goto(f"{platform.base_url}/factures")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()

    def portal_asks_to_sign_in():  # identity's worker delivers the back-channel logout
        page.goto(portal + "/")
        return page.get_by_role("link", name=SIGN_IN_BUTTON).count() == 1

    wait_until(portal_asks_to_sign_in, timeout=30, interval=1,
               message="the portal to forget the session after the family space's logout")
    assert invoice_number not in page.locator("main").inner_text()
