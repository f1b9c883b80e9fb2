import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Calendar

from booking.domain.facts import BookingStatus
from booking.domain.ical import FeedEntry, booking_feed

PARIS = ZoneInfo("Europe/Paris")
GENERATED = dt.datetime(2026, 10, 1, 6, tzinfo=dt.timezone.utc)
ENTRIES = [
    FeedEntry("b2", dt.date(2026, 10, 29), "Accueil du soir", "Périscolaire", BookingStatus.CONFIRMED,
              dt.time(16, 30), dt.time(18, 30)),
    FeedEntry("b1", dt.date(2026, 10, 22), "Repas", "Restauration scolaire", BookingStatus.CONFIRMED,
              dt.time(11, 45), dt.time(13, 30)),
    FeedEntry("b3", dt.date(2026, 10, 23), "Journée", "Accueil de loisirs", BookingStatus.CANCELLED),
    FeedEntry("b4", dt.date(2026, 10, 26), "Journée", "Accueil de loisirs", BookingStatus.WAITING),
    FeedEntry("b5", dt.date(2026, 10, 27), "Journée", "Accueil de loisirs", BookingStatus.HELD),
]


def parsed_events():
    calendar = Calendar.from_ical(booking_feed("Léa Martin", ENTRIES, GENERATED))
    return calendar, {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_the_feed_parses_back_with_one_event_per_booking_and_no_waiting_list_entry():
    calendar, events = parsed_events()
    assert str(calendar["x-wr-calname"]) == "Réservations de Léa Martin"
    assert set(events) == {"b1@espace-famille", "b2@espace-famille", "b3@espace-famille", "b5@espace-famille"}
    meal = events["b1@espace-famille"]
    assert str(meal["summary"]) == "Repas – Léa Martin"
    assert str(meal["description"]) == "Restauration scolaire"
    assert str(meal["status"]) == "CONFIRMED"
    assert str(events["b3@espace-famille"]["status"]) == "CANCELLED"
    assert str(events["b5@espace-famille"]["status"]) == "TENTATIVE"


def test_times_are_in_paris_time_across_the_dst_change_with_their_vtimezone():
    calendar, events = parsed_events()
    before = events["b1@espace-famille"]["dtstart"].dt  # 22 October: summer time
    after = events["b2@espace-famille"]["dtstart"].dt  # 29 October: winter time
    assert before == dt.datetime(2026, 10, 22, 11, 45, tzinfo=PARIS)
    assert before.utcoffset() == dt.timedelta(hours=2)
    assert after.astimezone(dt.timezone.utc) == dt.datetime(2026, 10, 29, 15, 30, tzinfo=dt.timezone.utc)
    assert events["b2@espace-famille"]["dtend"].dt == dt.datetime(2026, 10, 29, 18, 30, tzinfo=PARIS)
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]


def test_seances_without_hours_are_all_day_events():
    _, events = parsed_events()
    day = events["b3@espace-famille"]
    assert day["dtstart"].dt == dt.date(2026, 10, 23) and day["dtend"].dt == dt.date(2026, 10, 24)


def test_the_same_data_gives_the_same_bytes():
    assert booking_feed("Léa", ENTRIES, GENERATED) == booking_feed("Léa", list(reversed(ENTRIES)), GENERATED)


def test_a_child_without_bookings_gets_a_valid_empty_feed():
    calendar = Calendar.from_ical(booking_feed("Léa", [ENTRIES[3]], GENERATED))  # only a waiting-list entry
    assert calendar.walk("VEVENT") == [] and str(calendar["version"]) == "2.0"
