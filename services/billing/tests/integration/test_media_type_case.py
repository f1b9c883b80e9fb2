"""Media types are case-insensitive (RFC 9110): the bank's notification sent as
`Application/X-WWW-Form-Urlencoded` is applied as one sent in lowercase; a body of a media type
the operation does not take is a 415 problem, never a 500."""
from __future__ import annotations

import pytest

from billing_testkit import RETURN_URL, bank_notification

pytestmark = pytest.mark.integration


def _attempt(world, client):
    world.grid("ALSH", "Mercredi", [{"upper_qf": None, "price_cents": 1000}])
    family = world.family()
    from test_carts_and_desk import _cart, _days
    cart_id = _cart(world, family, _days(1))
    return client.post(f"/internal/parent/carts/{cart_id}/payment", json={"return_url": RETURN_URL},
                       headers=family.headers).json()


@pytest.mark.parametrize("content_type", ["Application/X-WWW-Form-Urlencoded",
                                          "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8"])
def test_the_banks_notification_in_capitals_is_applied(world, client, content_type):
    attempt = _attempt(world, client)
    r = client.post("/internal/payments/notify", content=bank_notification(attempt, "paid"),
                    headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert r.json()["effect"] == "payment"


@pytest.mark.parametrize("content_type", ["text/plain", "Multipart/Form-Data; boundary=x"])
def test_another_media_type_is_a_415_problem(world, client, content_type):
    r = client.post("/internal/payments/notify", content=b"vads_amount=1000", headers={"Content-Type": content_type})
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
