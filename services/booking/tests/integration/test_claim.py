"""places.claim: the places a validation decided on peeked séances, taken at the end of its
transaction; refused when a séance has no room left any more (PostgreSQL: one statement)."""
import pytest
import sqlalchemy as sa

from booking import places, store
from booking.domain.capacity import Occupancy
from booking.models import sessions

pytestmark = pytest.mark.integration


def _setup(db, world, capacity, days=3):
    prestation_id = world.prestation(capacity=capacity)["id"]
    dates = world.open_dates(prestation_id, days)
    with db.transaction() as s:
        found = store.prestations_by_id(s, [prestation_id])
        places.lock(s, [(prestation_id, d) for d in dates], found)
    return prestation_id, dates, found


def _counts(db, prestation_id):
    with db.read() as s:
        return {r.session_date: (r.confirmed, r.held) for r in s.execute(
            sa.select(sessions).where(sessions.c.prestation_id == prestation_id))}


def _set(db, prestation_id, day, **values):
    with db.transaction() as s:
        s.execute(sessions.update().where(sessions.c.prestation_id == prestation_id,
                                          sessions.c.session_date == day).values(**values))


def test_the_change_is_applied_to_the_seances_as_they_are_now(db, world):
    prestation_id, (a, b, c), found = _setup(db, world, capacity=3)
    _set(db, prestation_id, a, confirmed=1)  # another cart confirmed one since the peek
    _set(db, prestation_id, c, confirmed=3, held=0)
    before = {(prestation_id, a): Occupancy(3, 0, 0), (prestation_id, b): Occupancy(3, 0, 0),
              (prestation_id, c): Occupancy(3, 3, 0)}
    after = {(prestation_id, a): Occupancy(3, 1, 1), (prestation_id, b): Occupancy(3, 1, 0),
             (prestation_id, c): Occupancy(3, 2, 0)}  # c: a place given back, full or not
    with db.transaction() as s:
        assert places.claim(s, before, after, found) is True
    assert _counts(db, prestation_id) == {a: (2, 1), b: (1, 0), c: (2, 0)}


def test_refused_when_a_seance_has_no_room_left_and_nothing_is_kept(db, world):
    prestation_id, (a, b, _), found = _setup(db, world, capacity=2)
    _set(db, prestation_id, b, confirmed=1, held=1)  # b filled up since the peek
    before = {(prestation_id, a): Occupancy(2, 0, 0), (prestation_id, b): Occupancy(2, 1, 0)}
    after = {(prestation_id, a): Occupancy(2, 1, 0), (prestation_id, b): Occupancy(2, 2, 0)}
    with pytest.raises(RuntimeError), db.transaction() as s:
        assert places.claim(s, before, after, found) is False
        raise RuntimeError("the caller rolls back")  # as validate_cart does (Contended)
    assert _counts(db, prestation_id)[a] == (0, 0) and _counts(db, prestation_id)[b] == (1, 1)


def test_a_seances_own_capacity_wins_over_the_prestations_and_none_is_unlimited(db, world):
    prestation_id, (a, b, _), found = _setup(db, world, capacity=1)
    _set(db, prestation_id, a, capacity=5, confirmed=3)  # this date was given more places
    before = {(prestation_id, a): Occupancy(5, 3, 0)}
    with db.transaction() as s:
        assert places.claim(s, before, {(prestation_id, a): Occupancy(5, 5, 0)}, found) is True
    with db.transaction() as s:
        assert places.claim(s, {(prestation_id, a): Occupancy(5, 5, 0)},
                            {(prestation_id, a): Occupancy(5, 6, 0)}, found) is False
    unlimited_id, (u,), unlimited = _setup(db, world, capacity=None, days=1)
    _set(db, unlimited_id, u, confirmed=100)
    with db.transaction() as s:
        assert places.claim(s, {(unlimited_id, u): Occupancy(None, 0, 0)},
                            {(unlimited_id, u): Occupancy(None, 1, 0)}, unlimited) is True
    assert _counts(db, unlimited_id) == {u: (101, 0)}


def test_with_commit_the_claim_commits_at_once_or_refuses_without_committing(db, world):
    """The API's claim is the transaction's last statement: sent with its COMMIT (one round trip)."""
    prestation_id, (a, b, c), found = _setup(db, world, capacity=2)
    before = {(prestation_id, a): Occupancy(2, 0, 0)}
    with db.transaction() as s:
        s.execute(sessions.update().where(sessions.c.prestation_id == prestation_id, sessions.c.session_date == b)
                  .values(held=1))  # written earlier in the same transaction
        assert places.claim(s, before, {(prestation_id, a): Occupancy(2, 1, 0)}, found, commit=True) is True
        assert _counts(db, prestation_id)[a] == (1, 0)  # seen by others before the session's own commit
    assert _counts(db, prestation_id)[b] == (0, 1)
    _set(db, prestation_id, a, confirmed=2)  # full since the peek
    with pytest.raises(RuntimeError), db.transaction() as s:
        s.execute(sessions.update().where(sessions.c.prestation_id == prestation_id, sessions.c.session_date == b)
                  .values(held=0))
        assert places.claim(s, before, {(prestation_id, a): Occupancy(2, 1, 0)}, found, commit=True) is False
        raise RuntimeError("the caller rolls back")  # as validate_cart does (Contended)
    assert _counts(db, prestation_id) == {a: (2, 0), b: (0, 1), c: (0, 0)}
