"""servicekit.messaging.outbox.event_bodies: the envelope's JSON spliced from the payload's own
JSON must be byte for byte what Envelope.model_dump_json() gives (the wire format)."""
import datetime as dt
import json

import pytest

from contracts.booking import CartLineFact, CartValidated
from contracts.envelope import Envelope, EventPayload
from servicekit import context
from servicekit.messaging.outbox import event_bodies, event_document


class Odd(EventPayload):
    EVENT_TYPE = "odd.thing.v1"
    text: str
    amount: float
    count: int | None = None
    when: dt.datetime
    day: dt.date
    tags: list[str] = []


UTC = dt.timezone.utc
ODD = [
    Odd(text='Noé "q" \\ \n\t\u2028 é 漢 \x01', amount=1e16, when=dt.datetime(2026, 12, 2, 4, 0, tzinfo=UTC),
        day=dt.date(2026, 1, 2), tags=["a", "ü"]),
    Odd(text="", amount=0.1, count=3, when=dt.datetime(2026, 12, 2, 4, 0, 0, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        day=dt.date(2026, 1, 2)),
]


@pytest.mark.parametrize("now", [dt.datetime(2026, 12, 2, 4, 5, 6, 789, tzinfo=UTC), dt.datetime(2026, 12, 2, tzinfo=UTC)])
@pytest.mark.parametrize("correlation_id, causation_id", [("corr", None), (None, 'c"a\u00e9'), ("x", "y")])
def test_bodies_are_the_envelopes_json(now, correlation_id, causation_id):
    validated = CartValidated(cart_id="c", family_id="f", parent_id="p", state="validated", validated_at=now,
                              hold_expires_at=None, lines=[CartLineFact(
                                  child_id="k", prestation_id="p", service_id="s", commune="ludres",
                                  session_date=dt.date(2026, 12, 3), action="book", status="confirmed", reason=None,
                                  payment_mode="end_of_month", price_ref="r", booking_id="b", prestation_label="Cantine")])
    payloads = [*ODD, validated]
    bodies = event_bodies("booking", payloads, correlation_id=correlation_id, causation_id=causation_id, now=now)
    assert [kind for _, kind, _ in bodies] == ["odd.thing.v1", "odd.thing.v1", "cart.validated.v1"]
    assert len({event_id for event_id, _, _ in bodies}) == 3
    for (event_id, kind, body), payload in zip(bodies, payloads):
        expected = Envelope(id=event_id, type=kind, source="booking", time=now, data=payload.model_dump(mode="json"),
                            correlation_id=correlation_id, causation_id=causation_id).model_dump_json()
        assert body == expected


def test_the_correlation_id_comes_from_the_context_and_the_document_holds_each_body_as_json():
    token = context.set_correlation_id("from-context")
    try:
        document = json.loads(event_document("booking", ODD, now=dt.datetime(2026, 12, 2, tzinfo=UTC)))
    finally:
        context.reset_correlation_id(token)
    assert [row["routing_key"] for row in document] == ["odd.thing.v1"] * 2
    assert {row["exchange"] for row in document} == {"booking.events"}
    assert [row["body"]["id"] for row in document] == [row["event_id"] for row in document]
    assert {row["body"]["correlation_id"] for row in document} == {"from-context"}
    assert dt.datetime.fromisoformat(document[0]["created_at"]) == dt.datetime(2026, 12, 2, tzinfo=UTC)
    assert event_document("booking", []) is None


def test_the_ids_are_random_version_4_uuids_drawn_with_one_system_call(monkeypatch):
    import os
    import uuid

    calls = []
    real = os.urandom
    monkeypatch.setattr(os, "urandom", lambda n: calls.append(n) or real(n))
    bodies = event_bodies("booking", ODD * 3, now=dt.datetime(2026, 12, 2, tzinfo=UTC))
    ids = [uuid.UUID(event_id) for event_id, _, _ in bodies]
    assert calls == [16 * 6]
    assert len(set(ids)) == 6 and {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}
    assert [json.loads(body)["id"] for _, _, body in bodies] == [str(i) for i in ids]
