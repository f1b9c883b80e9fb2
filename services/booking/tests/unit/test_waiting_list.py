import datetime as dt

from hypothesis import given, strategies as st

from booking.domain.capacity import Occupancy
from booking.domain.facts import BookingStatus
from booking.domain.waiting_list import WaitingEntry, agent_confirms, agent_declines, promote

T0 = dt.datetime(2026, 11, 2, 8, tzinfo=dt.timezone.utc)


def entry(n: int, minutes: int) -> WaitingEntry:
    return WaitingEntry(f"b{n}", f"c{n}", T0 + dt.timedelta(minutes=minutes))


QUEUE = [entry(3, 20), entry(1, 0), entry(2, 10)]


def test_freed_places_go_to_the_longest_waiting_children_first_and_are_confirmed_automatically():
    result = promote(Occupancy(3, confirmed=1), QUEUE, auto_confirm=True)
    assert [(p.entry.child_id, p.status) for p in result.promotions] == [
        ("c1", BookingStatus.CONFIRMED), ("c2", BookingStatus.CONFIRMED)]
    assert result.still_waiting == (entry(3, 20),)
    assert result.occupancy == Occupancy(3, confirmed=3)


def test_without_auto_confirmation_the_place_is_held_for_the_agent_to_confirm():
    result = promote(Occupancy(2, confirmed=1), QUEUE, auto_confirm=False)
    assert [(p.entry.child_id, p.status) for p in result.promotions] == [("c1", BookingStatus.PENDING_AGENT)]
    assert result.occupancy == Occupancy(2, confirmed=1, held=1)
    assert promote(result.occupancy, result.still_waiting, auto_confirm=True).promotions == ()  # no newcomer jumps in
    assert agent_confirms(result.occupancy) == Occupancy(2, confirmed=2)
    declined = agent_declines(result.occupancy, result.still_waiting, auto_confirm=False)
    assert [p.entry.child_id for p in declined.promotions] == ["c2"]
    assert declined.occupancy == Occupancy(2, confirmed=1, held=1)


def test_ties_are_broken_by_booking_id_and_a_full_date_promotes_nobody():
    same_time = [WaitingEntry("b9", "c9", T0), WaitingEntry("b1", "c1", T0)]
    assert promote(Occupancy(1), same_time, True).promotions[0].entry.booking_id == "b1"
    assert promote(Occupancy(1, confirmed=1), same_time, True).still_waiting == tuple(sorted(
        same_time, key=lambda e: e.booking_id))


@given(capacity=st.integers(0, 5), confirmed=st.integers(0, 6), held=st.integers(0, 3),
       minutes=st.lists(st.integers(0, 1000), max_size=10), auto=st.booleans())
def test_promotion_fills_exactly_the_free_places_in_queue_order(capacity, confirmed, held, minutes, auto):
    entries = [entry(n, m) for n, m in enumerate(minutes)]
    before = Occupancy(capacity, confirmed, held)
    result = promote(before, entries, auto)
    assert len(result.promotions) == min(before.places_left, len(entries))
    promoted_times = [p.entry.joined_at for p in result.promotions]
    assert all(t <= w.joined_at for t in promoted_times for w in result.still_waiting)
    taken = result.occupancy.confirmed + result.occupancy.held
    assert taken == confirmed + held + len(result.promotions)
    assert result.occupancy.places_left == max(0, before.places_left - len(result.promotions))
