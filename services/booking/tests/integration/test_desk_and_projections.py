"""Enrolment with fixed days, attendance (pointage) and the period lock, waiting-list decisions,
deadline overrides, CSV exports, the iCal feed, and the household projections (idempotent,
a removed child keeps its history)."""
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from booking_testkit import PARIS_TODAY, envelope, make_world, outbox_events
from contracts import billing, identity
from servicekit.types import utcnow

from booking import consumers
from booking.models import attendance, bookings, children, guardians

pytestmark = pytest.mark.integration


def test_enrolment_with_fixed_days_books_the_period(db, world, client):
    p = world.prestation(capacity=None)
    family = world.family()
    start = world.open_dates(p["id"], 1)[0]  # school holidays may come first
    enrolment = world.enrol(family, start, start + dt.timedelta(days=27), fixed_weekdays=[0, 3])
    [summary] = enrolment["bookings"]
    assert summary["prestation_id"] == p["id"] and summary["outcome"] == "confirmed" and summary["count"] > 0
    with db.read() as s:
        days = s.execute(sa.select(bookings.c.session_date).where(bookings.c.child_id == family.child_id)).scalars().all()
    assert len(days) == summary["count"] and {d.weekday() for d in days} <= {0, 3}
    assert {e["via"] for e in outbox_events(db, "booking.confirmed.v1") if e["child_id"] == family.child_id} == {"agent"}
    r = client.post("/internal/agent/enrolments", headers=world.agent_headers, json={
        "child_id": family.child_id, "service_id": world.service_id, "first": start.isoformat(),
        "last": (start + dt.timedelta(days=3)).isoformat()})
    assert r.status_code == 409  # overlapping enrolment
    other = make_world(db, client)
    r = client.post("/internal/agent/enrolments", headers=other.agent_headers, json={
        "child_id": family.child_id, "service_id": other.service_id, "first": start.isoformat(),
        "last": start.isoformat()})
    assert r.status_code == 404  # not a child of that commune


def test_attendance_day_list_recording_and_period_lock(db, world, client):
    p = world.prestation()
    booked, walk_in = world.family(), world.family()
    today = PARIS_TODAY()
    with db.transaction() as s:  # a booking of today (made earlier, before the deadline)
        s.execute(bookings.insert().values(
            id=str(uuid.uuid4()), commune=world.commune, family_id=booked.family_id, child_id=booked.child_id,
            service_id=world.service_id, prestation_id=p["id"], session_date=today, status="confirmed",
            created_at=utcnow(), updated_at=utcnow()))
    path = f"/internal/agent/prestations/{p['id']}/sessions/{today.isoformat()}/attendance"
    day_list = client.get(path, headers=world.agent_headers).json()
    assert [(i["child_id"], i["booked"], i["status"]) for i in day_list["items"]] == [(booked.child_id, True, None)]

    r = client.put(path, headers=world.agent_headers, json={"marks": [
        {"child_id": booked.child_id, "status": "absent_unjustified"}, {"child_id": walk_in.child_id, "status": "present"}]})
    assert r.status_code == 200, r.text
    marks = {i["child_id"]: (i["booked"], i["status"], i["status_label"]) for i in r.json()["items"]}
    assert marks == {booked.child_id: (True, "absent_unjustified", "Absent (non justifié)"),
                     walk_in.child_id: (False, "present", "Présent")}
    recorded = [e for e in outbox_events(db, "attendance.recorded.v1") if e["prestation_id"] == p["id"]]
    assert {(e["child_id"], e["booked"]) for e in recorded} == {(booked.child_id, True), (walk_in.child_id, False)}
    client.put(path, headers=world.agent_headers, json={"marks": [{"child_id": walk_in.child_id, "status": "present"}]})
    assert len([e for e in outbox_events(db, "attendance.recorded.v1") if e["prestation_id"] == p["id"]]) == 2

    # the parent sees it in the calendar
    r = client.get(f"/internal/parent/children/{walk_in.child_id}/calendar",
                   params={"service_id": world.service_id, "month": today.strftime("%Y-%m")}, headers=walk_in.headers)
    shown = {d["date"]: d for d in r.json()["prestations"][0]["days"]}[today.isoformat()]
    assert shown["state"] == "present" and shown["state_label"] == "Présent"

    future = (today + dt.timedelta(days=3)).isoformat()
    r = client.put(f"/internal/agent/prestations/{p['id']}/sessions/{future}/attendance", headers=world.agent_headers,
                   json={"marks": [{"child_id": walk_in.child_id, "status": "present"}]})
    assert r.status_code == 422
    other = make_world(db, client)
    assert client.get(path, headers=other.agent_headers).status_code == 404

    locked = envelope(billing.PeriodLocked(commune=world.commune, first=today.replace(day=1), last=today,
                                           locked_at=utcnow()), "billing")
    for _ in range(2):  # idempotent
        with db.transaction() as s:
            consumers.on_period_locked(s, locked)
    r = client.put(path, headers=world.agent_headers, json={"marks": [{"child_id": walk_in.child_id,
                                                                       "status": "absent_justified"}]})
    assert r.status_code == 409 and "facturée" in r.json()["detail"]
    assert client.get(path, headers=world.agent_headers).json()["locked"] is True

    csv_text = client.get("/internal/agent/exports/attendance.csv", headers=world.agent_headers,
                          params={"first": today.isoformat(), "last": today.isoformat()})
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")
    lines = csv_text.text.strip().split("\r\n")
    assert lines[0].startswith("\ufeffdate;prestation;enfant_id") and len(lines) == 3
    assert other.agent_headers and client.get("/internal/agent/exports/attendance.csv", headers=other.agent_headers,
                                              params={"first": today.isoformat(), "last": today.isoformat()}
                                              ).text.strip().count("\r\n") == 0


def test_waiting_list_needing_an_agent_and_deadline_override(db, world, client):
    p = world.prestation(capacity=1, waiting_list=True, waiting_list_auto_confirm=False)
    first, second = world.family(), world.family()
    for family in (first, second):
        world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    for family in (first, second):
        client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
            {"child_id": family.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]})
        client.post("/internal/parent/cart/validate", headers=family.headers)
    # the first cancels: the place is held for the second until an agent confirms
    client.post("/internal/parent/cart/lines", headers=first.headers, json={"lines": [
        {"child_id": first.child_id, "prestation_id": p["id"], "session_date": day.isoformat(), "action": "cancel"}]})
    assert client.post("/internal/parent/cart/validate", headers=first.headers).json()["lines"][0]["outcome"] == "cancelled"
    waiting = client.get("/internal/agent/waiting-list", headers=world.agent_headers,
                         params={"prestation_id": p["id"]}).json()["items"]
    assert [(w["child_id"], w["status"]) for w in waiting] == [(second.child_id, "pending_agent")]
    r = client.post(f"/internal/agent/waiting-list/{waiting[0]['id']}/decision", json={"decision": "confirm"},
                    headers=world.agent_headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    [told] = [e for e in outbox_events(db, "waiting_list.confirmed.v1") if e["child_id"] == second.child_id]
    assert told["by"] == "agent"
    r = client.post(f"/internal/agent/waiting-list/{waiting[0]['id']}/decision", json={"decision": "confirm"},
                    headers=world.agent_headers)
    assert r.status_code == 409

    # a deadline override lets one family book a date past its deadline
    late = PARIS_TODAY()  # "the day before at 12:00" has passed for today
    r = client.post("/internal/agent/deadline-overrides", headers=world.agent_headers, json={
        "family_id": first.family_id, "prestation_id": p["id"], "session_date": late.isoformat(), "reason": " "})
    assert r.status_code == 422
    r = client.post("/internal/agent/deadline-overrides", headers=world.agent_headers, json={
        "family_id": first.family_id, "prestation_id": p["id"], "session_date": late.isoformat(),
        "reason": "Reprise du travail imprévue"})
    assert r.status_code == 201
    other = make_world(db, client)
    r = client.post("/internal/agent/deadline-overrides", headers=other.agent_headers, json={
        "family_id": first.family_id, "prestation_id": p["id"], "session_date": late.isoformat(), "reason": "x"})
    assert r.status_code == 404
    actions = [e["action"] for e in client.get("/internal/agent/audit", headers=world.agent_headers).json()["items"]]
    assert "deadline.overridden" in actions and "waiting_list.confirmed" in actions


def test_ical_feed_secret_and_revocable(db, world, client):
    p = world.prestation()
    family = world.family()
    world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
        {"child_id": family.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]})
    client.post("/internal/parent/cart/validate", headers=family.headers)
    r = client.post(f"/internal/parent/children/{family.child_id}/feed", headers=family.headers)
    assert r.status_code == 201
    token = r.json()["token"]
    assert client.get(f"/internal/parent/children/{family.child_id}/feed", headers=family.headers).json() == {
        "active": True, "created_at": r.json()["created_at"], "token": None}
    public = client.get(f"/internal/feeds/{token}", headers=world.agent_headers)
    assert public.status_code == 200 and public.headers["content-type"].startswith("text/calendar")
    events = [c for c in Calendar.from_ical(public.content).walk("VEVENT")]
    assert len(events) == 1 and events[0]["dtstart"].dt.date() == day
    with db.read() as s:
        stored = s.execute(sa.text("select token_hash from ical_feeds where child_id = :c"),
                           {"c": family.child_id}).scalar()
    assert stored != token and len(stored) == 64  # only the hash is kept
    assert client.delete(f"/internal/parent/children/{family.child_id}/feed", headers=family.headers).status_code == 204
    assert client.get(f"/internal/feeds/{token}", headers=world.agent_headers).status_code == 404


def test_household_projection_is_idempotent_and_keeps_removed_children(db, world, client):
    family_id, child_id, guardian_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    t0 = utcnow()
    added = envelope(identity.ChildAdded(child_id=child_id, family_id=family_id, given_name="Hugo",
                                         family_name="Martin", birth_date=dt.date(2020, 9, 14), changed_at=t0),
                     "identity")
    updated = envelope(identity.ChildUpdated(child_id=child_id, family_id=family_id, given_name="Hugo",
                                             family_name="Martin", birth_date=dt.date(2020, 9, 14),
                                             class_name="Grande section", changed_at=t0 + dt.timedelta(seconds=1)),
                       "identity")
    removed = envelope(identity.ChildRemoved(child_id=child_id, family_id=family_id,
                                             changed_at=t0 + dt.timedelta(seconds=2)), "identity")
    for event, handler in ((updated, consumers.on_child_facts), (added, consumers.on_child_facts),
                           (updated, consumers.on_child_facts)):  # out of order and twice
        with db.transaction() as s:
            handler(s, event)
    with db.read() as s:
        row = s.execute(sa.select(children).where(children.c.child_id == child_id)).mappings().one()
    assert row["class_name"] == "Grande section" and row["removed_at"] is None

    with db.transaction() as s:
        s.execute(bookings.insert().values(
            id=str(uuid.uuid4()), commune=world.commune, family_id=family_id, child_id=child_id,
            service_id=world.service_id, prestation_id=world.prestation()["id"], session_date=PARIS_TODAY(),
            status="confirmed", created_at=t0, updated_at=t0))
    for _ in range(2):
        with db.transaction() as s:
            consumers.on_child_removed(s, removed)
    with db.transaction() as s:
        consumers.on_child_facts(s, updated)  # an older fact does not bring the child back
    with db.read() as s:
        row = s.execute(sa.select(children).where(children.c.child_id == child_id)).mappings().one()
        kept = s.execute(sa.select(sa.func.count()).select_from(bookings).where(bookings.c.child_id == child_id)).scalar()
    assert row["removed_at"] is not None and kept == 1

    for event in (envelope(identity.GuardianAdded(guardian_id=guardian_id, family_id=family_id, user_id="sub-1",
                                                  given_name="Camille", changed_at=t0), "identity"),
                  envelope(identity.FamilyAddressChanged(family_id=family_id, guardian_id=guardian_id,
                                                         street="1 rue", postcode="54180", city="Heillecourt",
                                                         changed_at=t0 + dt.timedelta(seconds=1)), "identity")):
        for _ in range(2):
            with db.transaction() as s:
                (consumers.on_guardian_added if event.type == "guardian.added.v1" else consumers.on_address_changed)(
                    s, event)
    with db.read() as s:
        g = s.execute(sa.select(guardians).where(guardians.c.guardian_id == guardian_id)).mappings().one()
    assert (g["given_name"], g["city"], g["user_id"]) == ("Camille", "Heillecourt", "sub-1")


def test_seed_demo_is_idempotent(db):
    from booking import seed

    for _ in range(2):
        with db.transaction() as s:
            seed.seed_demo(s)
    with db.read() as s:
        counts = [s.execute(sa.text(sql), {"lea": seed.LEA, "hugo": seed.HUGO}).scalar() for sql in (
            "select count(*) from services where commune = 'heillecourt'",
            "select count(*) from prestations where commune = 'heillecourt'",
            "select count(*) from enrolments where commune = 'heillecourt'",
            "select count(*) from children where child_id in (:lea, :hugo)")]
    assert counts == [4, 6, 8, 2]
    with db.read() as s:
        lea = s.execute(sa.select(sa.func.count()).select_from(bookings).where(bookings.c.child_id == seed.LEA)).scalar()
    assert lea > 0  # Léa's canteen days (Monday, Tuesday, Thursday, Friday) are booked


def test_deadline_override_lets_one_family_book_late(world, client):
    p = world.prestation(booking_deadline={"kind": "calendar_days", "days": 120, "at": "12:00"})
    late, other = world.family(), world.family()
    for family in (late, other):
        world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]  # within 120 days: past the deadline
    r = client.post("/internal/agent/deadline-overrides", headers=world.agent_headers, json={
        "family_id": late.family_id, "prestation_id": p["id"], "session_date": day.isoformat(),
        "reason": "Reprise du travail imprévue"})
    assert r.status_code == 201
    outcomes = {}
    for family in (late, other):
        client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
            {"child_id": family.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]})
        line = client.post("/internal/parent/cart/validate", headers=family.headers).json()["lines"][0]
        outcomes[family.family_id] = (line["outcome"], line["reason"])
    assert outcomes == {late.family_id: ("confirmed", None), other.family_id: ("refused", "booking_deadline_passed")}


def test_an_agent_never_sees_another_communes_bookings(db, world, client):
    p = world.prestation(cancellation_auto_accept=False, waiting_list=True, capacity=1)
    a, b = world.family(), world.family()
    for family in (a, b):
        world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    for family in (a, b):
        client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
            {"child_id": family.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]})
        client.post("/internal/parent/cart/validate", headers=family.headers)
    client.post("/internal/parent/cart/lines", headers=a.headers, json={"lines": [
        {"child_id": a.child_id, "prestation_id": p["id"], "session_date": day.isoformat(), "action": "cancel"}]})
    client.post("/internal/parent/cart/validate", headers=a.headers)
    mine = client.get("/internal/agent/cancellation-requests", headers=world.agent_headers).json()["items"]
    waiting = client.get("/internal/agent/waiting-list", headers=world.agent_headers).json()["items"]
    assert len(mine) == 1 and len(waiting) == 1

    other = make_world(db, client)
    for path in ("/internal/agent/cancellation-requests", "/internal/agent/waiting-list",
                 "/internal/agent/children", "/internal/agent/enrolments"):
        assert client.get(path, headers=other.agent_headers).json()["items"] == [], path
    r = client.post(f"/internal/agent/cancellation-requests/{mine[0]['id']}/decision", json={"decision": "accept"},
                    headers=other.agent_headers)
    assert r.status_code == 404
    r = client.post(f"/internal/agent/waiting-list/{waiting[0]['id']}/decision", json={"decision": "decline"},
                    headers=other.agent_headers)
    assert r.status_code == 404
    r = client.get("/internal/agent/bookings", headers=world.agent_headers,
                   params={"first": day.isoformat(), "last": day.isoformat(), "child_id": b.child_id})
    assert [(i["child_id"], i["status"]) for i in r.json()["items"]] == [(b.child_id, "waiting")]
    r = client.get("/internal/agent/bookings", headers=other.agent_headers,
                   params={"first": day.isoformat(), "last": day.isoformat()})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = client.get("/internal/agent/exports/bookings.csv", headers=other.agent_headers,
                   params={"first": day.isoformat(), "last": day.isoformat()})
    assert r.status_code == 200 and r.text.count("\r\n") == 1  # the header only
    r = client.get("/internal/agent/exports/bookings.csv", headers=world.agent_headers,
                   params={"first": day.isoformat(), "last": day.isoformat()})
    assert r.text.count("\r\n") == 3


def test_a_failed_validation_leaves_nothing_half_done(db, world, client, monkeypatch):
    from booking import carts

    p = world.prestation(capacity=5)
    family = world.family()
    world.enrol(family)
    day = world.open_dates(p["id"], 1)[0]
    client.post("/internal/parent/cart/lines", headers=family.headers, json={"lines": [
        {"child_id": family.child_id, "prestation_id": p["id"], "session_date": day.isoformat()}]})

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(carts, "_save_outcomes", broken)  # fails after bookings and counters were written
    with pytest.raises(RuntimeError):
        with db.transaction() as s:
            carts.validate_cart(s, family.caller)
    monkeypatch.undo()
    with db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(bookings)
                         .where(bookings.c.child_id == family.child_id)).scalar() == 0
        assert s.execute(sa.text("select coalesce(sum(confirmed), 0) from sessions where prestation_id = :p"),
                         {"p": p["id"]}).scalar() == 0
    assert [e for e in outbox_events(db, "booking.confirmed.v1") if e["child_id"] == family.child_id] == []
    assert client.post("/internal/parent/cart/validate", headers=family.headers).json()["state"] == "validated"
    assert len([e for e in outbox_events(db, "booking.confirmed.v1") if e["child_id"] == family.child_id]) == 1


def test_worker_wires_consumers_and_the_expiry_job(db, db_url):
    from booking import worker
    from booking.settings import BookingSettings

    w = worker.create_worker(settings=BookingSettings(service="booking", database_url=db_url), db=db)
    wired = {(h.source, h.event_type) for h in w.handlers}
    assert {("identity", "child.added.v1"), ("identity", "child.removed.v1"), ("identity", "guardian.added.v1"),
            ("identity", "family_address.changed.v1"), ("billing", "payment.succeeded.v1"),
            ("billing", "payment.failed.v1"), ("billing", "period.locked.v1")} <= wired
    [job] = [j for j in w.jobs if j.name == "expire_carts"]
    assert job.seconds == 120


def test_accepted_absence_justification_marks_booked_seances(db, world, client):
    from contracts import requests as requests_contract

    p = world.prestation()
    family = world.family()
    today = PARIS_TODAY()
    days = [today - dt.timedelta(days=2), today - dt.timedelta(days=1), today]
    with db.transaction() as s:
        for day in days:
            s.execute(bookings.insert().values(
                id=str(uuid.uuid4()), commune=world.commune, family_id=family.family_id, child_id=family.child_id,
                service_id=world.service_id, prestation_id=p["id"], session_date=day, status="confirmed",
                created_at=utcnow(), updated_at=utcnow()))
        s.execute(attendance.insert().values(prestation_id=p["id"], session_date=days[2], child_id=family.child_id,
                                             commune=world.commune, family_id=family.family_id, status="present",
                                             booked=True, recorded_by="staff", recorded_at=utcnow()))
    locked = envelope(billing.PeriodLocked(commune=world.commune, first=days[0], last=days[0], locked_at=utcnow()),
                      "billing")
    accepted = envelope(requests_contract.AbsenceJustificationAccepted(
        request_id="req-1", family_id=family.family_id, commune=world.commune, child_id=family.child_id,
        first_day=days[0], last_day=days[2], reason="Varicelle", accepted_at=utcnow()), "requests")
    with db.transaction() as s:
        consumers.on_period_locked(s, locked)
    for _ in range(2):  # redelivered: marked once
        with db.transaction() as s:
            consumers.on_absence_justified(s, accepted)
    with db.read() as s:
        marks = dict(s.execute(sa.select(attendance.c.session_date, attendance.c.status)
                               .where(attendance.c.child_id == family.child_id)).all())
    # the invoiced day is left alone, the staff's "present" stands, the other day is justified
    assert marks == {days[1]: "absent_justified", days[2]: "present"}
    recorded = [e for e in outbox_events(db, "attendance.recorded.v1") if e["child_id"] == family.child_id]
    assert [(e["session_date"], e["status"]) for e in recorded] == [(days[1].isoformat(), "absent_justified")]
