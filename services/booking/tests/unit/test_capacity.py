import pytest

from booking.domain.capacity import NoPlaceLeft, Occupancy, reapply


def test_places_left_counts_confirmed_and_held():
    assert Occupancy(capacity=10, confirmed=6, held=3).places_left == 1
    assert Occupancy(capacity=None, confirmed=500).places_left is None
    assert Occupancy(capacity=2, confirmed=3).places_left == 0  # capacity lowered below the bookings


def test_taking_beyond_the_capacity_is_refused():
    last = Occupancy(capacity=2, confirmed=1).take(hold=True)
    assert (last.confirmed, last.held, last.has_room) == (1, 1, False)
    with pytest.raises(NoPlaceLeft):
        last.take(hold=False)
    assert Occupancy(capacity=None).take(hold=False).confirmed == 1


def test_held_places_are_confirmed_or_released():
    held = Occupancy(capacity=1, held=1)
    assert held.confirm_held() == Occupancy(capacity=1, confirmed=1)
    assert held.release_held() == Occupancy(capacity=1)
    with pytest.raises(ValueError):
        Occupancy(capacity=1).release_confirmed()


def test_a_decision_made_without_the_lock_is_reapplied_to_the_seance_as_it_is_now():
    before, after = Occupancy(capacity=10, confirmed=3), Occupancy(capacity=10, confirmed=5, held=1)
    # other carts took 4 places meanwhile: 3 more still fit
    assert reapply(Occupancy(capacity=10, confirmed=7), before, after) == Occupancy(capacity=10, confirmed=9, held=1)
    # they took 7: the 3 places decided on are gone
    with pytest.raises(NoPlaceLeft):
        reapply(Occupancy(capacity=10, confirmed=8, held=2), before, after)
    # the capacity of the date was lowered meanwhile: refused as well
    with pytest.raises(NoPlaceLeft):
        reapply(Occupancy(capacity=4, confirmed=3), before, after)
    assert reapply(Occupancy(capacity=None, confirmed=70), before, after) == Occupancy(capacity=None, confirmed=72, held=1)
