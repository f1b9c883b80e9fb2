"""Billing's integration tests: one migrated PostgreSQL database per module, the real app
(servicekit's ASGI stack, connexion validation, service tokens), the real consumers fed with
booking's and identity's event payloads, and a Systempay provider (eopayment) whose messages
the tests sign as the bank would (Systempay's published HMAC-SHA-256 rule).

Tests isolate themselves with a fresh commune (`world` fixture): an agent the agents
projection knows, families registered in the commune, children, price grids.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from contracts import booking as booking_contract
from contracts import identity as identity_contract
from contracts.envelope import Envelope
from servicekit import tokens
from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.testing import migrated_pg_database, service_app
from servicekit.types import utcnow

from billing import payflow, projections
from billing.models import agents, families
from billing.payments import EopaymentProvider
from billing.provider import use_provider

pytestmark = pytest.mark.integration

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "migrations")
SECRET = "billing-tests-service-token-secret-0123456789"
BANK_KEY = "BillingTestsBankKey0123456789"
BANK_OPTIONS = {"service_url": "https://bank.example/vads-payment/", "site_id": "87654321", "secret_test": BANK_KEY,
                "ctx_mode": "TEST", "signature_algo": "hmac_sha256"}
TEST_DATES = {"publication": {"months_after": 1, "day": 1}, "displayed_deadline": {"months_after": 1, "day": 31},
              "last_day_online": {"months_after": 1, "day": 31}, "due": {"months_after": 2, "day": 31}}
RETURN_URL = "https://famille.example/paiement/retour"


@pytest.fixture(scope="module")
def db_url():
    with migrated_pg_database("billing_it", MIGRATIONS) as url:
        yield url


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url, pool_size=20, max_overflow=10)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def provider():
    bank = EopaymentProvider("systempayv2", BANK_OPTIONS)
    use_provider(bank)
    yield bank
    use_provider(None)


@pytest.fixture(scope="module")
def app(db_url, provider):
    with service_app("billing", {"BILLING_DATABASE_URL": db_url, "SERVICE_TOKEN_SECRET": SECRET,
                                 "EF_ENV": "test"}) as application:
        yield application


@pytest.fixture(scope="module")
def client(app):
    with app.test_client() as test_client:
        yield test_client


def auth(caller: tokens.Caller) -> dict:
    return {"Authorization": f"Bearer {tokens.mint(caller, 'billing', SECRET)}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def envelope(payload, source: str) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source=source, data=payload.model_dump(mode="json"))


def outbox_events(db: Database, event_type: str | None = None) -> list[dict]:
    with db.read() as s:
        rows = s.execute(sa.select(outbox.c.routing_key, outbox.c.body).order_by(outbox.c.seq)).all()
    return [json.loads(body)["data"] for key, body in rows if event_type is None or key == event_type]


# --- the bank's messages ------------------------------------------------------------------------------------
def bank_sign(fields: dict, key: str = BANK_KEY) -> str:
    values = [fields[k] for k in sorted(k for k in fields if k.startswith("vads_"))]
    return base64.b64encode(hmac.new(key.encode(), "+".join([*values, key]).encode(), hashlib.sha256).digest()).decode()


def form_of(attempt: dict) -> dict:
    return {f["name"]: f["value"] for f in attempt["redirect"]["fields"]}


STATUSES = {"paid": ("AUTHORISED", "00", "00"), "refused": ("REFUSED", "05", "05"),
            "cancelled": ("ABANDONED", "17", ""), "expired": ("EXPIRED", "", "")}


def bank_notification(attempt: dict, outcome: str = "paid", amount: str | None = None, key: str = BANK_KEY,
                      **extra) -> bytes:
    """The notification the bank would send for the attempt's form (signed unless told otherwise)."""
    form = form_of(attempt)
    status, result, auth_result = STATUSES[outcome]
    fields = {name: value for name, value in form.items()
              if name in ("vads_site_id", "vads_ctx_mode", "vads_trans_id", "vads_trans_date", "vads_amount",
                          "vads_currency", "vads_ext_info_eopayment_trans_id", "vads_order_id")}
    if amount is not None:
        fields["vads_amount"] = amount
    fields.update(vads_result=result, vads_auth_result=auth_result, vads_extra_result="", vads_trans_status=status,
                  vads_trans_uuid=uuid.uuid4().hex, vads_auth_number="123456" if outcome == "paid" else "",
                  vads_effective_creation_date=utcnow().strftime("%Y%m%d%H%M%S"), vads_url_check_src="PAY",
                  vads_hash="ab" * 32, **extra)
    fields["signature"] = bank_sign(fields, key)
    return urlencode(fields).encode()


def notify(client, body: bytes):
    return client.post("/internal/payments/notify", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


# --- a commune with people ----------------------------------------------------------------------------------------
@dataclass
class Family:
    family_id: str
    name: str
    children: list[str]
    caller: tokens.Caller

    @property
    def headers(self) -> dict:
        return auth(self.caller)

    @property
    def child_id(self) -> str:
        return self.children[0]


@dataclass
class World:
    db: Database
    client: object
    commune: str
    agent: tokens.Caller
    prestations: dict = field(default_factory=dict)  # price_ref -> prestation id

    @property
    def headers(self) -> dict:
        return auth(self.agent)

    def family(self, name: str | None = None, children: int = 1, qf: int | None = None,
               birth_dates: list[dt.date] | None = None) -> Family:
        family_id = unique("fam")
        name = name or unique("Famille")
        now = utcnow()
        with self.db.transaction() as s:
            s.execute(families.insert().values(family_id=family_id, commune=self.commune, family_name=name,
                                               status="active", updated_at=now))
        kids = []
        for index in range(children):
            child_id = unique("child")
            birth = (birth_dates or [])[index] if birth_dates and index < len(birth_dates) else dt.date(2018, 5, 1)
            self.deliver(identity_contract.ChildAdded(child_id=child_id, family_id=family_id,
                                                      given_name=f"Enfant{index + 1}", family_name=name,
                                                      birth_date=birth, changed_at=now), "identity")
            kids.append(child_id)
        family = Family(family_id, name, kids, tokens.Caller(sub=unique("parent"), role="parent", family_id=family_id,
                                                             communes=(self.commune,)))
        if qf is not None:
            response = self.client.put(f"/internal/agent/families/{family_id}/account", json={"qf": qf},
                                       headers=self.headers)
            assert response.status_code == 200, response.text
        return family

    def grid(self, price_ref: str, label: str, brackets: list[dict], **extra) -> dict:
        response = self.client.post("/internal/agent/price-grids", json={
            "price_ref": price_ref, "label": label, "brackets": brackets, **extra}, headers=self.headers)
        assert response.status_code == 201, response.text
        self.prestations.setdefault(price_ref, unique("prest"))
        return response.json()

    def deliver(self, payload, source: str) -> Envelope:
        env = envelope(payload, source)
        handler = {h[1]: h[3] for h in projections.HANDLERS}.get(env.type)
        if env.type == booking_contract.CartValidated.EVENT_TYPE:
            handler = payflow.on_cart_validated
        if env.type == booking_contract.CartAbandoned.EVENT_TYPE:
            handler = payflow.on_cart_abandoned
        if env.type == booking_contract.CartPaidAfterRelease.EVENT_TYPE:
            handler = payflow.on_cart_paid_after_release
        with self.db.transaction() as s:
            handler(s, env)
        return env

    def _slot(self, family: Family, child_id: str, price_ref: str, day: dt.date, mode: str) -> dict:
        return dict(family_id=family.family_id, child_id=child_id, commune=self.commune, service_id="svc",
                    prestation_id=self.prestations[price_ref], session_date=day, payment_mode=mode,
                    price_ref=price_ref)

    def book(self, family: Family, day: dt.date, price_ref: str = "REPAS", child_id: str | None = None,
             mode: str = "end_of_month", attendance: str | None = "present") -> None:
        child_id = child_id or family.child_id
        slot = self._slot(family, child_id, price_ref, day, mode)
        self.deliver(booking_contract.BookingConfirmed(booking_id=unique("bk"), via="cart", confirmed_at=utcnow(),
                                                       **slot), "booking")
        if attendance:
            self.attend(family, day, attendance, price_ref, child_id, booked=True, mode=mode)

    def attend(self, family: Family, day: dt.date, status: str, price_ref: str = "REPAS",
               child_id: str | None = None, booked: bool = True, mode: str = "end_of_month") -> None:
        slot = self._slot(family, child_id or family.child_id, price_ref, day, mode)
        slot.pop("payment_mode")
        self.deliver(booking_contract.AttendanceRecorded(status=status, booked=booked, payment_mode=mode,
                                                         recorded_at=utcnow(), **slot), "booking")

    def cancel(self, family: Family, day: dt.date, refund: str, price_ref: str = "REPAS",
               mode: str = "end_of_month") -> None:
        slot = self._slot(family, family.child_id, price_ref, day, mode)
        self.deliver(booking_contract.BookingCancelled(booking_id=unique("bk"), refund=refund, by="parent",
                                                       cancelled_at=utcnow(), **slot), "booking")

    # --- the API, as the gateway calls it
    def run(self, month: str, finalise: bool = True) -> dict:
        response = self.client.post("/internal/agent/runs", json={"month": month}, headers=self.headers)
        assert response.status_code == 201, response.text
        run = response.json()
        if finalise:
            response = self.client.post(f"/internal/agent/runs/{run['id']}/finalise", headers=self.headers)
            assert response.status_code == 200, response.text
            run = response.json()
        return run

    def invoices(self, family: Family, status: str | None = None) -> list[dict]:
        params = {"status": status} if status else {}
        response = self.client.get("/internal/parent/invoices", params=params, headers=family.headers)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def pay(self, family: Family, invoice_ids: list[str], key: str | None = None):
        headers = {**family.headers, **({"Idempotency-Key": key} if key else {})}
        return self.client.post("/internal/parent/payments", json={"invoice_ids": invoice_ids,
                                                                   "return_url": RETURN_URL}, headers=headers)


def make_world(db: Database, client, commune: str | None = None) -> World:
    commune = commune or unique("commune")
    agent = tokens.Caller(sub=unique("agent"), role="agent", commune=commune)
    now = utcnow()
    with db.transaction() as s:
        s.execute(agents.insert().values(user_id=agent.sub, commune=commune, role="agent", active=True,
                                         changed_at=now, updated_at=now))
    world = World(db, client, commune, agent)
    # Last month's invoices are published on the 1st and payable online all month, whatever today is.
    response = client.put("/internal/agent/settings", json={"dates": TEST_DATES}, headers=world.headers)
    assert response.status_code == 200, response.text
    return world


@pytest.fixture
def world(db, client):
    return make_world(db, client)


def past_month(months_back: int = 1) -> tuple[str, list[dt.date]]:
    """A month before the current one ('2026-10') and its weekdays."""
    from billing.domain.calendar import Month
    from billing.timeutil import paris_today

    month = Month.of(paris_today()).plus(-months_back)
    days = [month.first_day + dt.timedelta(days=i) for i in range((month.last_day - month.first_day).days + 1)]
    return str(month), [d for d in days if d.weekday() < 5]


def parse_redirect_query(url: str) -> dict:
    return dict(parse_qsl(urlsplit(url).query))
