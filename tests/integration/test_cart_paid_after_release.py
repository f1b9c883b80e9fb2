"""A prepaid cart's payment landing after booking released its places, end to end through both
services' handlers: booking's and billing's real apps on their own PostgreSQL databases, each
event taken from one's outbox and handed to the other's consumer, as the relay would.

The hold runs out (booking releases the places and tells billing nothing), then the bank says
paid before billing's re-check failed the attempt: billing books it (payment.succeeded.v1),
booking finds the cart released and sends it back (cart.paid_after_release.v1), and the family
gets its money back as a credit note it sees among its invoices, once — never kept silently."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for folder in ("services/booking/tests/integration", "services/billing/tests/integration"):
    sys.path.insert(0, str(ROOT / folder))

import billing_testkit as billing_kit  # noqa: E402
import booking_testkit as booking_kit  # noqa: E402
from contracts import billing as billing_contract  # noqa: E402
from contracts import booking as booking_contract  # noqa: E402
from servicekit import tokens  # noqa: E402
from servicekit.db import Database  # noqa: E402
from servicekit.testing import migrated_pg_database, service_app  # noqa: E402
from servicekit.types import utcnow  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def services():
    """(booking's database and client, billing's database and client), both apps alive."""
    with migrated_pg_database("e2e_booking", booking_kit.MIGRATIONS) as booking_url, \
            migrated_pg_database("e2e_billing", billing_kit.MIGRATIONS) as billing_url:
        bank = billing_kit.EopaymentProvider("systempayv2", billing_kit.BANK_OPTIONS)
        billing_kit.use_provider(bank)
        from booking import dossiers
        from requests_standin import RequestsStandIn, serve

        standin = serve(RequestsStandIn(booking_kit.SECRET))  # requests' dossier check: every dossier complete
        requests_url = f"http://127.0.0.1:{standin.server_address[1]}"
        booking_db, billing_db = Database(booking_url), Database(billing_url)
        dossiers._client.cache_clear()
        try:
            # each app keeps the service-token secret of its testkit (read when its settings are loaded)
            booking_env = {"BOOKING_DATABASE_URL": booking_url, "REQUESTS_URL": requests_url,
                           "SERVICE_TOKEN_SECRET": booking_kit.SECRET, "EF_ENV": "test"}
            billing_env = {"BILLING_DATABASE_URL": billing_url, "SERVICE_TOKEN_SECRET": billing_kit.SECRET,
                           "EF_ENV": "test"}
            with service_app("booking", booking_env) as booking_app, \
                    service_app("billing", billing_env) as billing_app, \
                    booking_app.test_client() as booking_client, billing_app.test_client() as billing_client:
                yield booking_db, booking_client, billing_db, billing_client
        finally:
            standin.shutdown()
            standin.server_close()
            dossiers._client.cache_clear()
            billing_kit.use_provider(None)
            booking_db.dispose()
            billing_db.dispose()


def relay(from_db, event_type: str, model, cart_id: str, source: str, deliver):
    """Hand every `event_type` of the cart in `from_db`'s outbox to the other service's consumer."""
    events = [e for e in booking_kit.outbox_events(from_db, event_type) if e["cart_id"] == cart_id]
    for data in events:
        deliver(model(**data), source)
    return events


def test_a_payment_after_the_hold_ran_out_comes_back_to_the_family_as_a_credit(services):
    from booking import carts, consumers
    from test_cart_abandon import held_cart
    from test_cart_api import statuses

    booking_db, booking_client, billing_db, billing_client = services
    booking = booking_kit.make_world(booking_db, booking_client)
    billing = billing_kit.make_world(billing_db, billing_client, commune=booking.commune)
    billing.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 1200}])
    _p, family, _day, cart = held_cart(booking, booking_client, price_ref="ALSH")  # awaiting payment

    def to_booking(payload, source):
        with booking_db.transaction() as s:
            consumers.on_payment_succeeded(s, booking_kit.envelope(payload, source))

    # billing prices the cart; the parent starts paying
    relay(booking_db, "cart.validated.v1", booking_contract.CartValidated, cart["id"], "booking", billing.deliver)
    parent = billing_kit.Family(family.family_id, "Martin", [family.child_id], tokens.Caller(
        sub=family.caller.sub, role="parent", family_id=family.family_id, communes=(booking.commune,)))
    started = billing_client.post(f"/internal/parent/carts/{cart['id']}/payment",
                                  json={"return_url": billing_kit.RETURN_URL}, headers=parent.headers)
    assert started.status_code == 201, started.text

    # the hold runs out at booking; the bank says paid before billing's re-check
    assert carts.expire_carts(booking_db, now=utcnow() + dt.timedelta(minutes=61)) == 1
    paid = billing_kit.notify(billing_client, billing_kit.bank_notification(started.json(), "paid"))
    assert paid.json()["effect"] == "payment"
    assert relay(billing_db, "payment.succeeded.v1", billing_contract.PaymentSucceeded, cart["id"], "billing",
                 to_booking)
    assert statuses(booking_db, family) == []  # the places stay released

    for _ in range(2):  # the relay delivers booking's answer twice: one credit note
        relay(booking_db, "cart.paid_after_release.v1", booking_contract.CartPaidAfterRelease, cart["id"], "booking",
              billing.deliver)
    [credit] = billing.invoices(parent, "credit")  # what the parent sees among their invoices
    assert credit["total_cents"] == 1200 and credit["remaining_credit_cents"] == 1200
    [issued] = [e for e in billing_kit.outbox_events(billing_db, "credit.issued.v1")
                if e["family_id"] == family.family_id]
    assert issued["amount_cents"] == 1200  # notify's e-mail "Avoir émis"
