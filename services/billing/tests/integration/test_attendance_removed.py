"""booking's attendance.removed.v1: a mark removed by mistake is no longer priced by the next run;
a slot's marks and removals end in the state of the latest one by time, whatever the order and
the number of times they are delivered."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from contracts import booking as booking_contract
from servicekit.types import utcnow

from billing.models import booked_days, invoice_lines, invoices
from billing.projections import day_key
from billing_testkit import past_month


def _slot(world, family, day, child_id=None):
    slot = world._slot(family, child_id or family.child_id, "REPAS", day, "end_of_month")
    slot.pop("payment_mode")
    return slot


def _mark(world, family, day, status, at, booked=True):
    world.deliver(booking_contract.AttendanceRecorded(status=status, booked=booked, payment_mode="end_of_month",
                                                      recorded_at=at, **_slot(world, family, day)), "booking")


def _remove(world, family, day, removed_status, at):
    world.deliver(booking_contract.AttendanceRemoved(removed_status=removed_status, payment_mode="end_of_month",
                                                     removed_at=at, **_slot(world, family, day)), "booking")


def _attendance(world, family, day):
    with world.db.read() as s:
        return s.execute(sa.select(booked_days.c.attendance).where(
            booked_days.c.day_key == day_key(family.child_id, world.prestations["REPAS"], day))).scalar_one()


def _draft_keys(world, run_id):
    with world.db.read() as s:
        return set(s.execute(sa.select(invoice_lines.c.day_key).join(
            invoices, invoices.c.id == invoice_lines.c.invoice_id).where(invoices.c.run_id == run_id)).scalars())


def test_a_removed_mark_is_no_longer_priced_by_the_next_draft(world, client):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 300}])
    family = world.family(qf=500)
    month, weekdays = past_month()
    kept, walk_in, booked = weekdays[:3]
    world.book(family, kept)                                   # booked, present
    _mark(world, family, walk_in, "present", utcnow(), booked=False)  # present without booking
    world.book(family, booked)                                 # booked, present (the mark to remove)
    first = world.run(month, finalise=False)
    assert first["summary"]["invoiced_total_cents"] == 900

    later = utcnow()
    for _ in range(2):  # delivered twice: the same state
        _remove(world, family, walk_in, "present", later)
        _remove(world, family, booked, "present", later)
    assert _attendance(world, family, walk_in) is None and _attendance(world, family, booked) is None

    second = world.run(month, finalise=False)
    assert second["summary"]["invoiced_total_cents"] == 300
    assert _draft_keys(world, second["id"]) == {day_key(family.child_id, world.prestations["REPAS"], kept)}
    # the booked day is "not marked" again: warned and left for a later run, not priced
    assert second["summary"]["not_recorded"] == 1
    warnings = client.get(f"/internal/agent/runs/{second['id']}/warnings", params={"code": "attendance_missing"},
                          headers=world.headers).json()
    assert warnings["total"] == 1


def test_marks_and_removals_end_in_the_latest_state_whatever_the_delivery_order(world):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 300}])
    family = world.family(qf=500)
    month, weekdays = past_month()
    remarked, removed = weekdays[:2]
    t1 = utcnow() - dt.timedelta(minutes=10)
    t2, t3 = t1 + dt.timedelta(minutes=1), t1 + dt.timedelta(minutes=2)

    # the removal arrives before the mark it removed: the late mark never comes back
    _remove(world, family, remarked, "present", t2)
    assert _attendance(world, family, remarked) is None
    _mark(world, family, remarked, "present", t1, booked=False)
    assert _attendance(world, family, remarked) is None
    # a later re-mark wins over the removal, even when the removal is delivered again afterwards
    _mark(world, family, remarked, "absent_unjustified", t3, booked=False)
    _remove(world, family, remarked, "present", t2)
    assert _attendance(world, family, remarked) == "absent_unjustified"
    _mark(world, family, remarked, "present", t3 + dt.timedelta(seconds=1), booked=False)

    # in order, then the old mark replayed: still removed
    _mark(world, family, removed, "present", t1, booked=False)
    _remove(world, family, removed, "present", t2)
    _mark(world, family, removed, "present", t1, booked=False)
    assert _attendance(world, family, removed) is None

    draft = world.run(month, finalise=False)
    # only the re-marked presence is priced; the removed one makes no line (not even a free one)
    assert draft["summary"]["invoiced_total_cents"] == 300 and draft["summary"]["lines"] == 1
    assert _draft_keys(world, draft["id"]) == {day_key(family.child_id, world.prestations["REPAS"], remarked)}


def test_a_removal_seen_alone_leaves_nothing_to_price(world):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 300}])
    family = world.family(qf=500)
    month, weekdays = past_month()
    _remove(world, family, weekdays[0], "present", utcnow())
    draft = world.run(month, finalise=False)
    assert draft["summary"]["items"] == 0 and draft["summary"]["warnings"] == 0
