"""The séances' counters of a cart are written in one statement: they stay locked until commit,
and every extra round trip is time the other carts of the same dates wait (bench/booking_rush.py)."""
import pytest
import sqlalchemy as sa

from booking import places, store
from booking.domain.capacity import Occupancy
from booking.models import sessions

pytestmark = pytest.mark.integration


def test_changed_counters_are_saved_in_one_statement_and_unchanged_ones_skipped(db, world):
    prestation_id = world.prestation()["id"]
    days = world.open_dates(prestation_id, 20)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE SESSIONS"):
            statements.append((statement, executemany))

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.transaction() as s:
            found = store.prestations_by_id(s, [prestation_id])
            locked = places.lock(s, [(prestation_id, day) for day in days], found)
            after = {slot: Occupancy(occ.capacity, occ.confirmed + 1, occ.held + (i % 2))
                     for i, (slot, occ) in enumerate(locked.items()) if i < 19}
            after[(prestation_id, days[19])] = locked[(prestation_id, days[19])]  # unchanged: not written
            places.save(s, locked, after)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)

    assert len(statements) == 1 and statements[0][1] is True
    with db.read() as s:
        rows = {r.session_date: (r.confirmed, r.held) for r in s.execute(
            sa.select(sessions).where(sessions.c.prestation_id == prestation_id,
                                      sessions.c.session_date.in_(days)))}
    assert rows == {day: ((1, i % 2) if i < 19 else (0, 0)) for i, day in enumerate(days)}
