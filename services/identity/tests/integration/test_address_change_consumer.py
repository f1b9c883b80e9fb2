"""The requests service's accepted change of address reaches identity: the parent's home address
or a child's alternate address changes, once, even when the event is delivered twice."""
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, make_agent, make_commune,  # noqa: F401
                              outbox_events, parent_caller, unique)

from contracts.envelope import Envelope
from contracts.requests import AddressChangeAccepted
from servicekit.messaging.broker import connect, events_exchange
from servicekit.testing import wait_until
from identity.errors import NotFound
from identity.models import AuditEntry, Child, Guardian
from identity.worker import create_worker, on_address_change_accepted

pytestmark = pytest.mark.integration

NEW = {"street": "4 rue des Tilleuls", "postcode": "54180", "city": "Heillecourt"}


@pytest.fixture
def family(client, db):
    done = activate(client, db, make_agent(db, make_commune(db)), f"{unique('parent')}@example.org")
    return {**done, "headers": auth(parent_caller(done["sub"]))}


def accepted(family_id: str, **target) -> Envelope:
    payload = AddressChangeAccepted(request_id=unique("req"), family_id=family_id, commune="heillecourt",
                                    accepted_at=datetime.now(timezone.utc), **NEW, **target)
    return Envelope(type=payload.EVENT_TYPE, source="requests", data=payload.model_dump(mode="json"))


def home_address(db, family_id):
    with db.read() as s:
        g = s.scalars(sa.select(Guardian).where(Guardian.family_id == family_id)).one()
        return g.street, g.postcode, g.city


def test_the_parents_home_address_changes(db, family):
    with db.transaction() as s:
        on_address_change_accepted(s, accepted(family["family_id"], guardian_sub=family["sub"]))
    assert home_address(db, family["family_id"]) == ("4 rue des Tilleuls", "54180", "Heillecourt")
    latest = [e["data"] for e in outbox_events(db, "family_address.changed.v1")
              if e["data"]["family_id"] == family["family_id"]][-1]
    assert latest["street"] == "4 rue des Tilleuls"


def test_a_childs_alternate_address_changes(client, db, family):
    r = client.post("/internal/me/children", headers=family["headers"],
                    json={"given_name": "Léa", "family_name": "Martin", "birth_date": "2017-03-02"})
    child_id = r.json()["id"]
    with db.transaction() as s:
        on_address_change_accepted(s, accepted(family["family_id"], child_id=child_id))
    with db.read() as s:
        child = s.get(Child, child_id)
        assert (child.alternate_street, child.alternate_city) == ("4 rue des Tilleuls", "Heillecourt")


def test_another_familys_parent_is_not_changed(db, family, client):
    other = activate(client, db, make_agent(db, make_commune(db)), f"{unique('other')}@example.org")
    with pytest.raises(NotFound), db.transaction() as s:
        on_address_change_accepted(s, accepted(family["family_id"], guardian_sub=other["sub"]))
    assert home_address(db, other["family_id"]) != ("4 rue des Tilleuls", "54180", "Heillecourt")


def _count(queue: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("events_consumed_total",
                                     {"service": "identity", "consumer": queue, "outcome": outcome}) or 0.0


def test_delivered_twice_applied_once(app, db, family, amqp_vhost_url):
    settings = app.settings.model_copy(update={"amqp_url": amqp_vhost_url})
    worker = create_worker(settings, db, max_retries=1, retry_delays_ms=(200,))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert worker.ready.wait(30)
        queue = "identity.address_changes"
        duplicates_before = _count(queue, "duplicate")
        envelope = accepted(family["family_id"], guardian_sub=family["sub"])
        with connect(amqp_vhost_url) as conn:
            exchange = events_exchange("requests")(conn.default_channel)
            exchange.declare()
            producer = conn.Producer()
            for _ in range(2):  # the relay crashed after publishing and published again
                producer.publish(envelope.model_dump_json(), exchange=exchange, routing_key=envelope.type,
                                 content_type="application/json", message_id=envelope.id, retry=True)
        wait_until(lambda: _count(queue, "duplicate") > duplicates_before, timeout=30)
    finally:
        worker.stop()
        thread.join(30)
    assert home_address(db, family["family_id"]) == ("4 rue des Tilleuls", "54180", "Heillecourt")
    with db.read() as s:
        details = s.scalars(sa.select(AuditEntry.details).where(AuditEntry.action == "address.changed")).all()
    assert [d["family_id"] for d in details].count(family["family_id"]) == 1
    addresses = [e for e in outbox_events(db, "family_address.changed.v1")
                 if e["data"]["family_id"] == family["family_id"] and e["data"]["street"] == NEW["street"]]
    assert len(addresses) == 1
