"""200 parents validate their carts at the same instant for the same 10 places, on PostgreSQL:
exactly 10 are confirmed, every other line is refused (full) or waiting-listed, and every cart,
booking, occupancy counter and event agrees — nothing half-done. Both ways of validating: the
séances locked first, and the API's optimistic first attempt (séances locked only to claim the
places at the end; `Contended` -> validated again, locked first)."""
import datetime as dt
import threading
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from booking_testkit import PARIS_TODAY, outbox_events
from servicekit import tokens
from servicekit.types import utcnow

from booking import carts, places, store
from booking.models import bookings, cart_lines, children, enrolments, families, sessions
from booking.models import carts as carts_table

pytestmark = pytest.mark.integration
PARENTS = 200
PLACES = 10


def many_families(db, world, count):
    """`count` enrolled families of the world's commune, each with a one-line cart for `day`."""
    now, today = utcnow(), PARIS_TODAY()
    made = []
    with db.transaction() as s:
        for _ in range(count):
            family_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())
            s.execute(families.insert().values(family_id=family_id, commune=world.commune, family_name="F",
                                               status="active", updated_at=now))
            s.execute(children.insert().values(child_id=child_id, family_id=family_id, given_name="E",
                                               family_name="F", changed_at=now))
            s.execute(enrolments.insert().values(
                id=str(uuid.uuid4()), commune=world.commune, family_id=family_id, child_id=child_id,
                service_id=world.service_id, first=today, last=today + dt.timedelta(days=150), fixed_weekdays=[],
                created_by="test", created_at=now, updated_at=now))
            made.append((child_id, tokens.Caller(sub=f"parent-{uuid.uuid4().hex[:8]}", role="parent",
                                                 family_id=family_id)))
    return made


def rush(db, parents, prestation_id, day, commune, optimistic=False, contended=None):
    """Give each parent a one-line open cart, then validate them all at once (one thread and
    transaction each; `optimistic`: as the API does, counting the second attempts in `contended`)."""
    now = utcnow()
    cart_rows = [{"id": str(uuid.uuid4()), "family_id": caller.family_id, "parent_sub": caller.sub,
                  "commune": commune, "state": "open", "created_at": now, "updated_at": now}
                 for _, caller in parents]
    with db.transaction() as s:
        s.execute(carts_table.insert(), cart_rows)
        s.execute(cart_lines.insert(), [{"cart_id": row["id"], "child_id": child_id, "prestation_id": prestation_id,
                                         "session_date": day, "action": "book", "position": 0}
                                        for row, (child_id, _) in zip(cart_rows, parents)])
    start = threading.Barrier(len(parents))
    results, errors = {}, []

    def validate(caller):
        start.wait()
        try:
            try:
                with db.transaction() as s:  # as the API: the claim sent with the COMMIT
                    results[caller.family_id] = carts.validate_cart(s, caller, optimistic=optimistic,
                                                                    commit=optimistic)
            except carts.Contended:
                contended.append(caller.family_id)
                with db.transaction() as s:
                    results[caller.family_id] = carts.validate_cart(s, caller)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=validate, args=(caller,)) for _, caller in parents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    return results


def check_consistency(db, prestation_id, day, results):
    with db.read() as s:
        rows = s.execute(sa.select(bookings.c.family_id, bookings.c.status).where(
            bookings.c.prestation_id == prestation_id, bookings.c.session_date == day)).all()
        counter = s.execute(sa.select(sessions.c.confirmed, sessions.c.held).where(
            sessions.c.prestation_id == prestation_id, sessions.c.session_date == day)).one()
    outcomes = Counter(r["lines"][0]["outcome"] for r in results.values())
    stored = Counter(status for _, status in rows)
    confirmed_events = [e for e in outbox_events(db, "booking.confirmed.v1") if e["prestation_id"] == prestation_id]
    return outcomes, stored, tuple(counter), confirmed_events


def generated(db, prestation_id, day):
    """The séance's row exists (an agent generated the opening dates): validations may be optimistic."""
    with db.transaction() as s:
        places.lock(s, [(prestation_id, day)], store.prestations_by_id(s, [prestation_id]))


@pytest.mark.parametrize("optimistic", [False, True], ids=["locked-first", "optimistic"])
def test_200_parents_for_10_places(db, world, client, optimistic):
    p = world.prestation(capacity=PLACES)
    day = world.open_dates(p["id"], 1)[0]
    contended = []
    if optimistic:
        generated(db, p["id"], day)
    results = rush(db, many_families(db, world, PARENTS), p["id"], day, world.commune, optimistic, contended)
    if optimistic:  # every cart decided "confirmed" on the free places; those that lost the claim went again
        assert 0 < len(contended) <= PARENTS - PLACES
    assert len(results) == PARENTS
    outcomes, stored, counter, confirmed_events = check_consistency(db, p["id"], day, results)
    assert outcomes == {"confirmed": PLACES, "refused": PARENTS - PLACES}
    assert {r["lines"][0]["reason"] for r in results.values() if r["lines"][0]["outcome"] == "refused"} == {"full"}
    assert stored == {"confirmed": PLACES}
    assert counter == (PLACES, 0)
    assert len(confirmed_events) == PLACES
    # refused carts stay open (the parent sees why); confirmed ones are validated
    assert Counter(r["state"] for r in results.values()) == {"validated": PLACES, "open": PARENTS - PLACES}


@pytest.mark.parametrize("optimistic", [False, True], ids=["locked-first", "optimistic"])
def test_200_parents_for_10_places_with_a_waiting_list(db, world, client, optimistic):
    p = world.prestation(capacity=PLACES, waiting_list=True)
    day = world.open_dates(p["id"], 1)[0]
    if optimistic:
        generated(db, p["id"], day)
    results = rush(db, many_families(db, world, PARENTS), p["id"], day, world.commune, optimistic, [])
    outcomes, stored, counter, confirmed_events = check_consistency(db, p["id"], day, results)
    assert outcomes == {"confirmed": PLACES, "waiting_listed": PARENTS - PLACES}
    assert stored == {"confirmed": PLACES, "waiting": PARENTS - PLACES}
    assert counter == (PLACES, 0) and len(confirmed_events) == PLACES


def test_carts_of_many_dates_without_seance_rows_never_deadlock(db, world, client):
    """The séances' rows do not exist yet (opening dates not generated): every cart creates the
    ones it needs, then locks them all in order. 40 carts of 5 overlapping dates each, at once:
    none fails (a row locked before another cart's insert is waited for would deadlock)."""
    import random

    p = world.prestation(capacity=25)
    days = world.open_dates(p["id"], 8)
    parents = many_families(db, world, 40)
    rng, now = random.Random(8), utcnow()
    cart_rows = [{"id": str(uuid.uuid4()), "family_id": caller.family_id, "parent_sub": caller.sub,
                  "commune": world.commune, "state": "open", "created_at": now, "updated_at": now}
                 for _, caller in parents]
    with db.transaction() as s:
        s.execute(carts_table.insert(), cart_rows)
        s.execute(cart_lines.insert(), [
            {"cart_id": row["id"], "child_id": child_id, "prestation_id": p["id"], "session_date": day,
             "action": "book", "position": n}
            for row, (child_id, _) in zip(cart_rows, parents) for n, day in enumerate(rng.sample(days, 5))])
    start = threading.Barrier(len(parents))
    errors, answers = [], []

    def validate(caller):
        start.wait()
        try:
            with db.transaction() as s:
                answers.append(carts.validate_cart(s, caller))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=validate, args=(caller,)) for _, caller in parents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    confirmed = Counter(line["session_date"] for a in answers for line in a["lines"] if line["outcome"] == "confirmed")
    with db.read() as s:
        counters = {r.session_date.isoformat(): r.confirmed for r in s.execute(
            sa.select(sessions.c.session_date, sessions.c.confirmed).where(sessions.c.prestation_id == p["id"]))}
    assert {day: n for day, n in counters.items() if n} == dict(confirmed)
    assert max(counters.values()) <= 25
