"""Inside "Valider" the séances stay locked until commit, and every round trip there is time the
other carts of the same dates wait (bench/booking_rush.py): a cart's counters and its events are
written with one statement each, and adding lines or validating a cart costs the same number of
statements whatever its number of lines."""
import json
import uuid

import pytest
import sqlalchemy as sa

from booking_testkit import outbox_events, sent_statements
from servicekit import pg
from servicekit.types import utcnow
from contracts.booking import CartValidated
from contracts.envelope import Envelope

from booking import api, carts, places, store
from booking.domain.capacity import Occupancy
from booking.models import bookings, sessions

pytestmark = pytest.mark.integration


def test_changed_counters_are_saved_in_one_statement_and_unchanged_ones_skipped(db, world):
    prestation_id = world.prestation()["id"]
    days = world.open_dates(prestation_id, 20)
    with sent_statements() as seen, db.transaction() as s:
        found = store.prestations_by_id(s, [prestation_id])
        locked = places.lock(s, [(prestation_id, day) for day in days], found)
        after = {slot: Occupancy(occ.capacity, occ.confirmed + 1, occ.held + (i % 2))
                 for i, (slot, occ) in enumerate(locked.items()) if i < 19}
        after[(prestation_id, days[19])] = locked[(prestation_id, days[19])]  # unchanged: not written
        places.save(s, locked, after)
    statements = [(text, many) for text, _, many in seen if text.lstrip().upper().startswith("UPDATE SESSIONS")]

    assert len(statements) == 1 and statements[0][1] is False  # one UPDATE over arrays, not an executemany
    with db.read() as s:
        rows = {r.session_date: (r.confirmed, r.held) for r in s.execute(
            sa.select(sessions).where(sessions.c.prestation_id == prestation_id,
                                      sessions.c.session_date.in_(days)))}
    assert rows == {day: ((1, i % 2) if i < 19 else (0, 0)) for i, day in enumerate(days)}


def test_a_carts_confirmations_are_one_outbox_insert_in_the_statement_of_its_outcomes(db, world):
    prestation_id = world.prestation()["id"]
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation_id, 5)
    with db.transaction() as s:
        carts.add_lines(s, family.caller, {"lines": [
            {"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()}
            for d in days]})
    with sent_statements() as seen, db.transaction() as s:
        answer = carts.validate_cart(s, family.caller, "key-1")
    inserts = [(text.split()[0].upper(), len(json.loads(params["events"])))  # the rows as one JSON document
               for text, params, _ in seen if "INSERT INTO OUTBOX" in text.upper()]

    assert [line["outcome"] for line in answer["lines"]] == ["confirmed"] * 5
    # one statement: the 5 booking.confirmed.v1 and cart.validated.v1 inserted by the CTE that saves
    # the cart's outcomes
    assert inserts == [("WITH", 6)], inserts
    confirmed = [e for e in outbox_events(db, "booking.confirmed.v1") if e["child_id"] == family.child_id]
    assert sorted(e["session_date"] for e in confirmed) == [d.isoformat() for d in days]
    with db.read() as s:  # in order (the relay publishes by seq), the bodies as add_events writes them
        rows = s.execute(sa.text("SELECT routing_key, body FROM outbox ORDER BY seq")).all()[-6:]
    assert [r.routing_key for r in rows] == ["booking.confirmed.v1"] * 5 + ["cart.validated.v1"]
    envelopes = [Envelope.model_validate_json(r.body) for r in rows]
    assert [r.body for r in rows] == [e.model_dump_json() for e in envelopes]
    assert envelopes[-1].payload(CartValidated).cart_id == answer["id"]


def _statements(db, fn):
    with sent_statements() as seen, db.transaction() as s:
        answer = fn(s)
    return answer, [" ".join(text.split()) for text, _, _ in seen]


@pytest.mark.parametrize("lines", [2, 20])
def test_adding_lines_and_validating_cost_a_fixed_number_of_statements(db, world, lines):
    prestation_id = world.prestation()["id"]
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation_id, lines)
    with db.transaction() as s:  # the séances' rows exist, as once an agent generated the opening dates
        places.lock(s, [(prestation_id, day) for day in days], store.prestations_by_id(s, [prestation_id]))
    body = {"lines": [{"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()}
                      for d in days]}

    added, add_statements = _statements(db, lambda s: carts.add_lines(s, family.caller, body))
    answer, validate_statements = _statements(db, lambda s: carts.validate_cart(s, family.caller, f"key-{lines}"))

    assert len(added["lines"]) == lines and added["lines"][0]["prestation_label"]
    assert [line["outcome"] for line in answer["lines"]] == ["confirmed"] * lines
    assert answer["lines"][0]["child_name"] and answer["lines"][0]["prestation_label"]
    # a new cart: its row (none, locked), the children and the prestations in one statement, the
    # cart and its lines inserted by one
    assert len(add_statements) == 2, add_statements
    # cart (locked); its idempotency key, lines, children, prestations, closures, calendar,
    # enrolments, overrides, residence, séances and bookings in one statement (store.cart_facts);
    # séances (which exist, then locked), bookings under the locks, INSERT bookings, UPDATE
    # counters, and the cart, its lines' outcomes, the idempotency record and the events (the relay
    # is woken after the commit, not by a pg_notify in it) in one statement
    assert len(validate_statements) == 8, "\n".join(validate_statements)


def test_the_apis_validation_locks_the_seances_only_to_claim_their_places(db, world, client, monkeypatch):
    """The API validates optimistically first: the séances are locked by the last statement before
    the commit (locked in order and their counters moved, in one statement), not from the middle
    of the validation."""
    prestation_id = world.prestation(capacity=30)["id"]
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation_id, 20)
    with db.transaction() as s:
        places.lock(s, [(prestation_id, day) for day in days], store.prestations_by_id(s, [prestation_id]))
    body = {"lines": [{"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()}
                      for d in days]}
    assert client.post("/internal/parent/cart/lines", headers=family.headers, json=body).status_code == 200

    answer, seen = _statements(db, lambda s: carts.validate_cart(s, family.caller, "key-opt", optimistic=True))

    assert [line["outcome"] for line in answer["lines"]] == ["confirmed"] * 20
    # cart (locked), everything read (store.cart_facts), the new bookings with the cart and its
    # lines' outcomes, the idempotency record and the events (no pg_notify: the relay is woken after
    # the commit), the claim
    assert len(seen) == 4, "\n".join(seen)
    locking = [n for n, text in enumerate(seen) if "FOR UPDATE" in text and "sessions" in text]
    assert locking == [len(seen) - 1] and "UPDATE sessions" in seen[-1]  # then COMMIT
    assert any("FROM sessions AS s" in text and "FOR UPDATE" not in text for text in seen[:-1])  # the peek
    with db.read() as s:
        counts = s.execute(sa.select(sessions.c.confirmed).where(sessions.c.prestation_id == prestation_id)).scalars()
        assert sorted(counts) == [1] * 20


def test_the_api_validates_again_locked_first_when_the_places_were_taken(world, client, monkeypatch, db):
    prestation_id = world.prestation(capacity=5)["id"]
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation_id, 3)
    with db.transaction() as s:
        places.lock(s, [(prestation_id, day) for day in days], store.prestations_by_id(s, [prestation_id]))
    assert client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
        {"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()}
        for d in days]}).status_code == 200
    claims = []

    def lost(*args, **kw):  # another cart took the places between the peek and the claim
        claims.append(args)
        return False

    monkeypatch.setattr(places, "claim", lost)
    answer = client.post("/internal/parent/cart/validate", headers={**family.headers, "Idempotency-Key": "k-lost"})

    assert answer.status_code == 200, answer.text
    assert [line["outcome"] for line in answer.json()["lines"]] == ["confirmed"] * 3
    assert len(claims) == api.OPTIMISTIC_ATTEMPTS  # then the séances were locked first: nothing to claim
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(bookings)
                         .where(bookings.c.child_id == family.child_id)).scalar() == 3
        assert sorted(s.execute(sa.select(sessions.c.confirmed).where(
            sessions.c.prestation_id == prestation_id)).scalars()) == [1, 1, 1]


def test_a_lost_claim_is_decided_again_on_a_new_peek_before_locking_the_seances(world, client, monkeypatch, db):
    prestation_id = world.prestation(capacity=5)["id"]
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation_id, 3)
    with db.transaction() as s:  # the séances have their rows (else the validation locks them first)
        places.lock(s, [(prestation_id, day) for day in days], store.prestations_by_id(s, [prestation_id]))
    assert client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
        {"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()}
        for d in days]}).status_code == 200
    real_claim, real_lock, claims, locks = places.claim, places.lock, [], []

    def lost_once(*args, **kw):  # another cart took a place between the first peek and its claim
        claims.append(args)
        return False if len(claims) == 1 else real_claim(*args, **kw)

    monkeypatch.setattr(places, "claim", lost_once)
    monkeypatch.setattr(places, "lock", lambda *a: locks.append(a) or real_lock(*a))
    answer = client.post("/internal/parent/cart/validate", headers={**family.headers, "Idempotency-Key": "k-again"})

    assert answer.status_code == 200, answer.text
    assert [line["outcome"] for line in answer.json()["lines"]] == ["confirmed"] * 3
    assert len(claims) == 2 and locks == []  # the second optimistic attempt claimed its places
    with db.read() as s:
        assert sorted(s.execute(sa.select(sessions.c.confirmed).where(
            sessions.c.prestation_id == prestation_id)).scalars()) == [1, 1, 1]


def test_a_line_waiting_listed_on_a_stale_peek_is_decided_again_on_the_locked_seance(db, world, monkeypatch):
    """The optimistic peek saw the date full (a place was freed since): the line is not left on the
    waiting list beside a free place, the locked séance decides it (confirmed)."""
    from booking.domain.capacity import Occupancy

    prestation_id = world.prestation(capacity=1, waiting_list=True)["id"]
    family = world.family()
    world.enrol(family)
    day = world.open_dates(prestation_id, 1)[0]
    with db.transaction() as s:
        places.lock(s, [(prestation_id, day)], store.prestations_by_id(s, [prestation_id]))
        carts.add_lines(s, family.caller, {"lines": [
            {"child_id": family.child_id, "prestation_id": prestation_id, "session_date": day.isoformat()}]})
    real_peek, peeks = places.occupancies, []

    def stale(seances, slots, found):  # what the séance looked like a moment ago: full
        peeks.append(slots)
        return {slot: Occupancy(occ.capacity, occ.capacity, 0) for slot, occ in real_peek(seances, slots, found).items()}

    monkeypatch.setattr(places, "occupancies", stale)  # the peek read with the cart (store.cart_facts)
    with db.transaction() as s:
        answer = carts.validate_cart(s, family.caller, "key-stale", optimistic=True)

    assert [line["outcome"] for line in answer["lines"]] == ["confirmed"] and len(peeks) == 1
    with db.read() as s:
        assert s.execute(sa.select(sessions.c.confirmed).where(sessions.c.prestation_id == prestation_id)).scalar() == 1


def test_valider_reads_the_familys_bookings_by_child_not_every_booking_of_the_seances(db, world):
    """store.cart_facts: with statistics older than a rush's rows, PostgreSQL looked the lines'
    bookings up through ix_bookings_slot_status (every booking of each séance, filtered by child)."""
    prestation = world.prestation()
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation["id"], 3)
    with db.transaction() as s:
        carts.add_lines(s, family.caller, {"lines": [
            {"child_id": family.child_id, "prestation_id": prestation["id"], "session_date": d.isoformat()}
            for d in days]})
    now = utcnow()
    with db.transaction() as s:  # a rush: the séances filled by other children, not analyzed since
        s.execute(bookings.insert(), [
            {"id": str(uuid.uuid4()), "commune": world.commune, "family_id": f"other-{i}", "child_id": f"other-{i}",
             "service_id": prestation["service_id"], "prestation_id": prestation["id"], "session_date": day,
             "status": "confirmed", "created_at": now, "updated_at": now} for day in days for i in range(300)])
    with db.transaction() as s:
        cart = carts.current_cart_row(s, family.caller.sub, lock=False)
        plan = "\n".join(row[0] for row in pg.execute(s, "EXPLAIN " + store._CART_FACTS_PG, {
            "cart": cart["id"], "family": family.family_id, "commune": world.commune, "sub": family.caller.sub,
            "operation": carts.VALIDATE, "key": "k"}))
        facts = store.cart_facts(s, cart["id"], family.family_id, world.commune, family.caller.sub, carts.VALIDATE, "k")
    assert "uq_bookings_child_slot" in plan and "ix_bookings_slot_status" not in plan, plan
    assert facts.statuses == {}  # none of the family's; theirs are found (tests of "Valider" again)


def test_valider_answers_the_text_it_remembered_as_connexion_would_encode_it(world, client):
    prestation_id = world.prestation()["id"]
    family = world.family()
    world.enrol(family)
    days = world.open_dates(prestation_id, 3)
    assert client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
        {"child_id": family.child_id, "prestation_id": prestation_id, "session_date": d.isoformat()}
        for d in days]}).status_code == 200
    headers = {**family.headers, "Idempotency-Key": "k-text"}

    first = client.post("/internal/parent/cart/validate", headers=headers)
    again = client.post("/internal/parent/cart/validate", headers=headers)  # the remembered answer, via connexion

    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"] == again.headers["content-type"] == "application/json"
    assert first.content == again.content and first.content.endswith(b"}\n")
    assert [line["outcome"] for line in first.json()["lines"]] == ["confirmed"] * 3
