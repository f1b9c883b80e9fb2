"""cart.validated.v1 lines carry the prestation's label, optionally: events published before the
field existed (still in queues, outboxes and dead-letter queues) must keep validating."""
import datetime as dt

from contracts.booking import CartLineFact, CartValidated
from contracts.registry import schemas

OLD_LINE = {"child_id": "c1", "prestation_id": "p1", "service_id": "s1", "commune": "heillecourt",
            "session_date": "2026-12-07", "action": "book", "status": "confirmed", "reason": None,
            "payment_mode": "end_of_month", "price_ref": "REPAS", "booking_id": "b1"}
OLD_CART = {"cart_id": "k1", "family_id": "f1", "parent_id": "u1", "state": "validated",
            "validated_at": "2026-12-01T10:00:00Z", "hold_expires_at": None, "lines": [OLD_LINE]}


def test_a_line_published_before_the_label_still_validates():
    cart = CartValidated.model_validate(OLD_CART)
    assert cart.lines[0].prestation_label is None
    assert cart.lines[0].session_date == dt.date(2026, 12, 7)


def test_a_line_carries_the_prestations_label():
    line = CartLineFact.model_validate({**OLD_LINE, "prestation_label": "Repas du midi"})
    assert line.model_dump(mode="json")["prestation_label"] == "Repas du midi"


def test_the_published_schema_keeps_the_label_optional():
    [schema] = [s for name, s in schemas().items() if name.startswith("cart.validated.v1")]
    line_schema = schema["$defs"]["CartLineFact"]
    assert "prestation_label" in line_schema["properties"]
    assert "prestation_label" not in line_schema.get("required", [])
