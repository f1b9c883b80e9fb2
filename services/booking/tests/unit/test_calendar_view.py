import datetime as dt
from zoneinfo import ZoneInfo

from booking.domain import demo_catalogue as demo
from booking.domain.calendar_view import day_views
from booking.domain.capacity import Occupancy
from booking.domain.enrolment import Enrolment
from booking.domain.facts import Attendance, BookingStatus
from booking.domain.reasons import Reason
from booking.domain.states import DateState

PARIS = ZoneInfo("Europe/Paris")
PRESTATIONS = {p.id: p for p in demo.PRESTATIONS}
CANTEEN = PRESTATIONS["cantine-repas"]
WEDNESDAY = PRESTATIONS["mercredi-journee"]
YEAR = (dt.date(2026, 9, 1), dt.date(2027, 7, 2))


def by_day(views):
    return {v.day: v for v in views}


def test_a_canteen_week_shows_each_state_with_its_deadline():
    now = dt.datetime(2026, 11, 10, 9, 30, tzinfo=PARIS)  # Tuesday 9:30
    enrolments = (Enrolment("c1", "cantine", *YEAR),)
    views = by_day(day_views(
        CANTEEN, demo.CALENDAR, "c1", enrolments, dt.date(2026, 11, 9), dt.date(2026, 11, 13),
        bookings={dt.date(2026, 11, 9): BookingStatus.CONFIRMED, dt.date(2026, 11, 13): BookingStatus.CONFIRMED},
        attendance={dt.date(2026, 11, 9): Attendance.PRESENT},
        occupancy={dt.date(2026, 11, 12): Occupancy(180, confirmed=180)}, now=now))
    monday, tuesday, wednesday, thursday, friday = (views[dt.date(2026, 11, 9 + n)] for n in range(5))
    assert (monday.state, monday.can_book, monday.can_cancel) == (DateState.PRESENT, False, False)
    assert tuesday.state is DateState.PAST_DEADLINE and not tuesday.can_book
    assert wednesday.label == "Fermé : Pas d'accueil ce jour de la semaine"
    assert thursday.state is DateState.FULL and not thursday.can_book and thursday.places_left == 0
    assert friday.state is DateState.BOOKED and friday.can_cancel
    assert friday.cancellation_deadline == dt.datetime(2026, 11, 12, 10, tzinfo=PARIS)
    assert friday.price_ref == "CANTINE-REPAS"


def test_a_bookable_date_shows_its_deadline_and_a_full_one_offers_the_waiting_list():
    now = dt.datetime(2026, 11, 2, 8, tzinfo=PARIS)
    enrolments = (Enrolment("c1", "alsh-mercredi", *YEAR),)
    views = by_day(day_views(WEDNESDAY, demo.CALENDAR, "c1", enrolments, dt.date(2026, 11, 18), dt.date(2026, 11, 25),
                             {}, {}, {dt.date(2026, 11, 25): Occupancy(40, confirmed=38, held=2)}, now))
    open_day, full_day = views[dt.date(2026, 11, 18)], views[dt.date(2026, 11, 25)]
    assert open_day.state is DateState.BOOKABLE and open_day.can_book
    assert open_day.booking_deadline == dt.datetime(2026, 11, 12, 9, tzinfo=PARIS)  # Thursday 09:00 the week before
    assert full_day.state is DateState.FULL and full_day.can_book  # joins the waiting list


def test_dates_beyond_the_horizon_say_when_they_open_and_unenrolled_dates_say_so():
    now = dt.datetime(2026, 9, 1, 8, tzinfo=PARIS)
    enrolments = (Enrolment("c1", "alsh-mercredi", dt.date(2026, 9, 1), dt.date(2026, 12, 31)),)
    views = by_day(day_views(WEDNESDAY, demo.CALENDAR, "c1", enrolments, dt.date(2026, 12, 16), dt.date(2027, 1, 6),
                             {}, {}, {}, now))
    later = views[dt.date(2026, 12, 16)]
    assert later.state is DateState.NOT_YET_OPEN and not later.can_book
    assert later.booking_opens_at == dt.datetime(2026, 10, 21, tzinfo=PARIS)  # 8 weeks before
    assert views[dt.date(2026, 12, 23)].closure is Reason.SCHOOL_HOLIDAY
    assert views[dt.date(2027, 1, 6)].state is DateState.NOT_ENROLLED
