"""On PostgreSQL "Valider" reads what it decides on in one statement (`store.cart_facts`): each
fact read there still decides a line. (A cart whose every line is confirmed would not notice a
part of that statement that reads nothing.)"""
import datetime as dt

import pytest

from servicekit.types import utcnow

pytestmark = pytest.mark.integration


def _validate(client, family, prestation_id, days, key):
    r = client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
        {"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()} for d in days]})
    assert r.status_code == 200, r.text
    r = client.post("/internal/parent/cart/validate", headers={**family.headers, "Idempotency-Key": key})
    assert r.status_code == 200, r.text
    return {line["session_date"]: (line["outcome"], line["reason"]) for line in r.json()["lines"]}


def test_the_communes_and_the_prestations_own_closures_refuse_their_dates(world, client):
    prestation_id, other_id = world.prestation()["id"], world.prestation()["id"]
    family = world.family()
    world.enrol(family)
    everyone, others, own = world.open_dates(prestation_id, 3)
    for closed_on, closed_for in ((everyone, None), (others, other_id), (own, prestation_id)):
        r = client.post("/internal/agent/closures", headers=world.agent_headers,
                        json={"closed_on": closed_on.isoformat(), "label": "Grève", "prestation_id": closed_for})
        assert r.status_code == 201, r.text

    outcomes = _validate(client, family, prestation_id, [everyone, others, own], "closures")

    assert outcomes == {everyone.isoformat(): ("refused", "ad_hoc_closure"), others.isoformat(): ("confirmed", None),
                        own.isoformat(): ("refused", "ad_hoc_closure")}


def test_a_window_open_to_residents_first_confirms_a_residents_line_only(world, client):
    now = utcnow()
    probe = world.prestation()["id"]
    day = world.open_dates(probe, 1)[0]
    prestation_id = world.prestation(windows=[{
        "first": day.isoformat(), "last": day.isoformat(), "opens_at": (now + dt.timedelta(days=30)).isoformat(),
        "residents_open_at": (now - dt.timedelta(days=1)).isoformat()}])["id"]
    resident, outsider = world.family(), world.family(city="Ailleurs")
    world.enrol(resident)
    world.enrol(outsider)

    assert _validate(client, resident, prestation_id, [day], "resident") == {day.isoformat(): ("confirmed", None)}
    assert _validate(client, outsider, prestation_id, [day], "outsider") == {
        day.isoformat(): ("refused", "not_yet_open")}
