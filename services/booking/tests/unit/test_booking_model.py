"""Model-based test: any interleaving of bookings, cancellations, payments, expiries, agent
decisions and waiting-list promotions keeps the places accounted for and within the capacity."""
import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from booking.domain.cancellations import accept_cancellation, refuse_cancellation
from booking.domain.capacity import Occupancy
from booking.domain.cart import Cart, CartLine, CartState
from booking.domain.catalogue import PaymentMode, Prestation
from booking.domain.checkout import Snapshot, settle_expired, settle_failed, settle_paid, validate
from booking.domain.closures import CommuneCalendar
from booking.domain.deadlines import CalendarDaysBefore
from booking.domain.enrolment import Enrolment
from booking.domain.facts import BookingStatus
from booking.domain.openings import Schedule
from booking.domain.policy import Action, BookingPolicy
from booking.domain.waiting_list import WaitingEntry, agent_confirms, agent_declines, promote

PARIS = ZoneInfo("Europe/Paris")
ZONE_B = CommuneCalendar("B")
NOW = dt.datetime(2026, 11, 10, 9, tzinfo=PARIS)
THU = dt.date(2026, 11, 12)
SLOT = ("p", THU)
CHILDREN = ["c1", "c2", "c3"]
ENROLLED = tuple(Enrolment(c, "s", dt.date(2026, 9, 1), dt.date(2027, 7, 2)) for c in CHILDREN)
children = st.sampled_from(CHILDREN)
PLACE_TAKERS = {BookingStatus.CONFIRMED, BookingStatus.CANCELLATION_REQUESTED}
PLACE_HOLDERS = {BookingStatus.HELD, BookingStatus.PENDING_AGENT}


class BookingModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.statuses: dict[str, BookingStatus] = {}
        self.queue: list[WaitingEntry] = []
        self.pending: list[Cart] = []
        self.seq = 0

    @initialize(capacity=st.integers(0, 2), prepaid=st.booleans(), waiting_list=st.booleans(),
                auto_confirm=st.booleans(), auto_accept=st.booleans())
    def setup(self, capacity, prepaid, waiting_list, auto_confirm, auto_accept):
        self.prestation = Prestation(
            "p", "s", "Journée", Schedule(dt.date(2026, 9, 1), dt.date(2027, 7, 2), frozenset(range(5))),
            BookingPolicy(CalendarDaysBefore(1, dt.time(12)), CalendarDaysBefore(1, dt.time(12))),
            PaymentMode.PREPAID if prepaid else PaymentMode.END_OF_MONTH, "JOURNEE", capacity=capacity,
            waiting_list=waiting_list, waiting_list_auto_confirm=waiting_list and auto_confirm,
            cancellation_auto_accept=auto_accept)
        self.occupancy = Occupancy(capacity)

    def _validate(self, line: CartLine):
        snapshot = Snapshot(ZONE_B, {"p": self.prestation}, ENROLLED,
                            {(c, "p", THU): s for c, s in self.statuses.items()}, {SLOT: self.occupancy})
        result = validate(Cart(str(self.seq), "parent", lines=(line,)), snapshot, NOW)
        self._apply(result)
        if result.cart.state is CartState.AWAITING_PAYMENT:
            self.pending.append(result.cart)

    def _apply(self, result):
        self.occupancy = result.occupancy[SLOT]
        for (child, _, _), status in result.changes:
            self._set(child, status)
        if result.freed:
            self._promote()

    def _set(self, child, status):
        if status is None:
            self.statuses.pop(child, None)
        else:
            self.statuses[child] = status
        self.queue = [e for e in self.queue if e.child_id != child]
        if status is BookingStatus.WAITING:
            self.seq += 1
            self.queue.append(WaitingEntry(f"b{self.seq}", child, NOW + dt.timedelta(seconds=self.seq)))

    def _promote(self, result=None):
        result = result or promote(self.occupancy, self.queue, self.prestation.waiting_list_auto_confirm)
        self.occupancy, self.queue = result.occupancy, list(result.still_waiting)
        for promotion in result.promotions:
            self.statuses[promotion.entry.child_id] = promotion.status

    @rule(child=children)
    def book(self, child):
        self._validate(CartLine(child, "p", THU, Action.BOOK))

    @rule(child=children)
    def cancel(self, child):
        self._validate(CartLine(child, "p", THU, Action.CANCEL))

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), outcome=st.sampled_from(["paid", "failed", "expired"]))
    def settle(self, data, outcome):
        cart = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        occupancy = {SLOT: self.occupancy}
        if outcome == "paid":
            self._apply(settle_paid(cart, occupancy))
        elif outcome == "failed":
            self._apply(settle_failed(cart, occupancy))
        else:
            self._apply(settle_expired(cart, occupancy, cart.hold_expires_at))

    @rule(child=children, accept=st.booleans())
    def agent_decides_a_cancellation(self, child, accept):
        status = self.statuses.get(child)
        if status is not BookingStatus.CANCELLATION_REQUESTED:
            return
        if accept:
            self.statuses[child], self.occupancy = accept_cancellation(status, self.occupancy)
            self._promote()
        else:
            self.statuses[child] = refuse_cancellation(status)

    @rule(child=children, confirm=st.booleans())
    def agent_handles_a_promotion(self, child, confirm):
        if self.statuses.get(child) is not BookingStatus.PENDING_AGENT:
            return
        if confirm:
            self.occupancy = agent_confirms(self.occupancy)
            self.statuses[child] = BookingStatus.CONFIRMED
        else:
            del self.statuses[child]
            self._promote(agent_declines(self.occupancy, self.queue, self.prestation.waiting_list_auto_confirm))

    @invariant()
    def places_are_accounted_for_and_never_overbooked(self):
        if not hasattr(self, "occupancy"):
            return
        confirmed = sum(s in PLACE_TAKERS for s in self.statuses.values())
        held = sum(s in PLACE_HOLDERS for s in self.statuses.values())
        assert self.occupancy == Occupancy(self.prestation.capacity, confirmed, held)
        assert confirmed + held <= self.prestation.capacity

    @invariant()
    def nobody_waits_while_a_place_is_free(self):
        waiting = {c for c, s in self.statuses.items() if s is BookingStatus.WAITING}
        assert waiting == {e.child_id for e in self.queue}
        if self.queue:
            assert not self.occupancy.has_room


BookingModel.TestCase.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)
test_booking_model = BookingModel.TestCase
