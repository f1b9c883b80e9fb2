"""The demo parent's invoices on the real platform (issue 9), through the simulated bank
(devtools/fakebank) started as `make run` starts it:

- two invoices paid at once: both ticked on "Mes factures", "Payer les factures sélectionnées",
  paid at the bank, back on the processing page, both in "Factures payées" (how a payment is
  split, oldest first, partial payments, is billing's unit and integration tests' business);
- an invoice's PDF opens in the browser (application/pdf, inline, a real PDF naming the
  invoice's number), and another family's PDF URL is the 404 page.

Arrange, through the platform's own APIs with service tokens minted as the gateway mints them
(the development secret in the platform's var dir): Hugo Martin pointed present without booking
at the canteen on a day of each of two months (booking's agent API; booking's event reaches
billing), each month invoiced and finalised (billing's agent API), with invoice dates that keep
them payable online today. Another family of Heillecourt exists in billing only (its projections
fed through billing's own projection handlers, as the consumers would: this test makes no
identity account for it) with a day invoiced in the same run, so that its invoice is real.

The months are four and three months back: the agents' e2e (test_billing_agent.py) bills two
months back, and a finalised month is locked for pointage.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import uuid
import zlib
from zoneinfo import ZoneInfo

import pytest
import requests

from servicekit import tokens
from servicekit.testing import wait_until

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
COMMUNE = "heillecourt"
DEMO_FAMILY = "00000000-0000-4000-8000-00000000f001"
HUGO = "00000000-0000-4000-8000-00000000c002"
CANTEEN_REF = "CANTINE-REPAS"
# Payable online until long after the month (billing's invoice-date rules: day D, M months after).
PAYABLE_DATES = {"publication": {"months_after": 1, "day": 1}, "displayed_deadline": {"months_after": 5, "day": 28},
                 "last_day_online": {"months_after": 5, "day": 31}, "due": {"months_after": 6, "day": 30}}


# --- the platform's APIs, as the gateway calls them ------------------------------------------------------
def database_url(platform, service: str) -> str:
    if os.environ.get("EF_E2E_DB") == "postgres":
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/ef_e2e_{os.getpid()}_{service}"
    return f"sqlite:///{(platform.var_dir / f'{service}.db').resolve()}"


def service_token_secret(platform) -> str:
    for line in (platform.var_dir / "secrets.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "SERVICE_TOKEN_SECRET":
            return value.strip()
    raise AssertionError("no SERVICE_TOKEN_SECRET in the platform's secrets.env")


class Api:
    """booking's and billing's internal APIs as Heillecourt's demo agent."""

    def __init__(self, platform, billing_db):
        import sqlalchemy as sa

        self.platform = platform
        self.secret = service_token_secret(platform)
        with billing_db.read() as session:  # identity's agents, as billing's projection has them
            sub = session.execute(sa.text("SELECT user_id FROM agents WHERE commune = :c AND active ORDER BY changed_at"),
                                  {"c": COMMUNE}).scalars().first()
        assert sub, "billing knows no agent of Heillecourt"
        self.agent = tokens.Caller(sub=sub, role="agent", commune=COMMUNE)

    def call(self, method: str, service: str, path: str, **kwargs):
        offset = {"booking": 2, "billing": 3}[service]
        headers = {"Authorization": f"Bearer {tokens.mint(self.agent, service, self.secret)}"}
        response = requests.request(method, self.platform.service_url(offset) + path, headers=headers, timeout=60,
                                    **kwargs)
        assert response.status_code < 300, f"{method} {service} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def weekday_of(month: dt.date, from_day: int = 10) -> dt.date:
    day = month.replace(day=from_day)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def months_back(today: dt.date, count: int) -> dt.date:
    month = today.replace(day=1)
    for _ in range(count):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def feed_billing_another_family(billing_db, prestation_id: str, day: dt.date) -> str:
    """A family billing knows (its projections, written by billing's own handlers) with a child
    present without booking on `day`: the run invoices it like any family."""
    from contracts import booking as booking_contract
    from contracts import identity as identity_contract
    from contracts.envelope import Envelope
    from servicekit.types import utcnow

    from billing import projections
    from billing.models import families

    family_id, child_id, now = str(uuid.uuid4()), str(uuid.uuid4()), utcnow()
    handlers = {h[1]: h[3] for h in projections.HANDLERS}
    facts = [(identity_contract.ChildAdded(child_id=child_id, family_id=family_id, given_name="Zoé",
                                           family_name="Durand", birth_date=dt.date(2018, 4, 2), changed_at=now),
              "identity"),
             (booking_contract.AttendanceRecorded(
                 family_id=family_id, child_id=child_id, commune=COMMUNE, service_id="e2e", prestation_id=prestation_id,
                 session_date=day, price_ref=CANTEEN_REF, status="present", booked=False,
                 payment_mode="end_of_month", recorded_at=now), "booking")]
    with billing_db.transaction() as session:
        session.execute(families.insert().values(family_id=family_id, commune=COMMUNE, family_name="Durand",
                                                 status="active", updated_at=now))
        for payload, source in facts:
            handlers[payload.EVENT_TYPE](session, Envelope(type=payload.EVENT_TYPE, source=source,
                                                           data=payload.model_dump(mode="json")))
    return family_id


def invoice_month(api: Api, month: dt.date, families: list[str]) -> dict[str, dict]:
    """Draft the month (again, until billing has every family's day: booking's events are
    asynchronous), finalise it; {family_id: its published invoice}."""
    def drafted():
        run = api.call("POST", "billing", "/internal/agent/runs", json={"month": f"{month:%Y-%m}"})
        docs = {family: api.call("GET", "billing", f"/internal/agent/runs/{run['id']}/documents",
                                 params={"family_id": family})["items"] for family in families}
        return run if all(docs.values()) else None

    run = wait_until(drafted, 60, 2, f"billing to have every family's day of {month:%Y-%m}")
    api.call("POST", "billing", f"/internal/agent/runs/{run['id']}/finalise")
    published = {}
    for family in families:
        [doc] = [d for d in api.call("GET", "billing", f"/internal/agent/runs/{run['id']}/documents",
                                     params={"family_id": family})["items"] if d["kind"] == "invoice"]
        assert doc["number"] and doc["due_cents"] > 0, doc
        published[family] = doc
    return published


@pytest.fixture(scope="module")
def invoices(platform):
    """Two unpaid invoices of the demo family (oldest first) and one of another family."""
    from servicekit.db import Database

    billing_db = Database(database_url(platform, "billing"))
    try:
        api = wait_until(lambda: _api_or_none(platform, billing_db), 60, 1, "billing to know Heillecourt's agent")
        today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
        older, newer = months_back(today, 4), months_back(today, 3)
        prestations = api.call("GET", "booking", "/internal/agent/prestations", params={"per_page": 200})["items"]
        canteen = next(p for p in prestations if p.get("price_ref") == CANTEEN_REF)
        for month in (older, newer):
            api.call("PUT", "booking", f"/internal/agent/prestations/{canteen['id']}/sessions/"
                                       f"{weekday_of(month):%Y-%m-%d}/attendance",
                     json={"marks": [{"child_id": HUGO, "status": "present"}]})
        other_family = feed_billing_another_family(billing_db, canteen["id"], weekday_of(older, 15))

        settings = api.call("GET", "billing", "/internal/agent/settings")
        kept = {k: settings[k] for k in ("unrecorded_as_present", "payment_min_cents", "payment_max_cents",
                                         "schedule_day")}
        api.call("PUT", "billing", "/internal/agent/settings", json={**kept, "dates": PAYABLE_DATES})
        try:
            first = invoice_month(api, older, [DEMO_FAMILY, other_family])
            second = invoice_month(api, newer, [DEMO_FAMILY])
        finally:
            api.call("PUT", "billing", "/internal/agent/settings", json={**kept, "dates": settings["dates"]})
        yield {"demo": [first[DEMO_FAMILY], second[DEMO_FAMILY]], "other": first[other_family]}
    finally:
        billing_db.dispose()


def _api_or_none(platform, billing_db):
    try:
        return Api(platform, billing_db)
    except AssertionError:
        return None


# --- the parent's side ----------------------------------------------------------------------------------
def sign_in_parent(platform, page, identity_login) -> None:
    page.goto(f"{platform.base_url}/auth/login?next=/factures")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/factures")


def section_text(page, heading: str) -> str:
    return page.locator("section", has=page.get_by_role("heading", name=heading, exact=True)).inner_text()


def test_two_invoices_are_paid_at_once_through_the_simulated_bank(platform, page, a11y, identity_login, invoices):
    older, newer = invoices["demo"]
    sign_in_parent(platform, page, identity_login)
    a11y(page)
    to_pay = section_text(page, "Factures à payer")
    assert older["number"] in to_pay and newer["number"] in to_pay, to_pay
    # Exactly these two ticked (whatever else this platform's other journeys left to pay).
    for box in page.locator("input[name=facture]").all():
        box.uncheck()
    for doc in (older, newer):
        page.locator("li.factures-card", has_text=doc["number"]).locator("input[name=facture]").check()
    page.get_by_role("button", name="Payer les factures sélectionnées").click()

    # Our page auto-submits the signed form to the bank; the bank's page has Payer / Refuser / Abandonner.
    pay = page.locator("button[name=decision]").filter(has_text="Payer")
    pay.first.wait_for(timeout=30_000)
    amount = (older["due_cents"] + newer["due_cents"]) / 100
    bank_page = page.locator("body").inner_text()
    assert f"{amount:.2f}".replace(".", ",") in bank_page or f"{amount:.2f}" in bank_page, bank_page
    pay.first.click()
    page.wait_for_url("**/factures/paiements/**", timeout=30_000)
    try:  # the processing page polls billing until the bank's signed notification has arrived
        page.get_by_role("heading", name="Paiement reçu").wait_for(timeout=30_000)
    except Exception as exc:
        raise AssertionError(f"{page.url}: {page.locator('main').inner_text()}") from exc
    a11y(page)

    page.goto(f"{platform.base_url}/factures")
    paid, to_pay = section_text(page, "Factures payées"), section_text(page, "Factures à payer")
    for doc in (older, newer):
        assert doc["number"] in paid and doc["number"] not in to_pay, (paid, to_pay)
    a11y(page)


def pdf_texts(data: bytes) -> bytes:
    """The PDF's bytes and its Flate streams decompressed (WeasyPrint compresses its objects): where
    the document's title (its invoice number) and outline are, as literal or UTF-16 hex strings."""
    chunks = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(chunks)


def test_an_invoice_pdf_opens_in_the_browser_and_another_familys_is_refused(platform, page, a11y, identity_login,
                                                                            invoices):
    doc = invoices["demo"][0]
    sign_in_parent(platform, page, identity_login)
    page.get_by_role("link", name=f"Voir le détail de la facture {doc['number']}").click()
    page.wait_for_url(f"**/factures/{doc['id']}")
    assert doc["number"] in page.get_by_role("heading", level=1).inner_text()
    a11y(page)

    link = page.get_by_role("link", name="Ouvrir la facture en PDF")
    assert link.get_attribute("download") is None  # opened by the browser, not forced to a download
    with page.expect_response(lambda r: r.url.endswith(f"/factures/{doc['id']}/pdf")) as answer:
        link.click()
    response = answer.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline;")
    # The same URL fetched with the page's session (a PDF viewer's body is not always readable from
    # the navigation's response in headless Chromium).
    body = page.context.request.get(response.url).body()
    assert body.startswith(b"%PDF-") and b"%%EOF" in body[-1024:]
    texts = pdf_texts(body).lower()
    number = doc["number"]
    assert number.lower().encode() in texts or number.encode("utf-16-be").hex().encode() in texts, \
        f"{number} is not in the PDF"

    # Another family's invoice: its PDF and its page are the 404 page, nothing of it shown.
    other = invoices["other"]
    for path in (f"/factures/{other['id']}/pdf", f"/factures/{other['id']}"):
        refused = page.context.request.get(platform.base_url + path)
        assert refused.status in (403, 404), (path, refused.status)
        assert not refused.body().startswith(b"%PDF") and other["number"].encode() not in refused.body()
