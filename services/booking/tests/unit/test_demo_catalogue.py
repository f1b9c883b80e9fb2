import datetime as dt

from booking.domain import demo_catalogue as demo
from booking.domain.catalogue import prestation_problems
from booking.domain.deadlines import deadline_for
from booking.domain.openings import opening_dates

PRESTATIONS = {p.id: p for p in demo.PRESTATIONS}


def test_every_demo_prestation_is_consistent_and_belongs_to_a_demo_service():
    service_ids = {s.id for s in demo.SERVICES}
    for prestation in demo.PRESTATIONS:
        assert prestation_problems(prestation) == [], prestation.id
        assert prestation.service_id in service_ids


def test_every_demo_seance_has_a_computable_deadline_before_it_starts():
    for prestation in demo.PRESTATIONS:
        dates = opening_dates(prestation.schedule, demo.CALENDAR)
        assert dates, prestation.id
        for day in dates:
            for rule in (prestation.policy.booking_deadline, prestation.policy.cancellation_deadline):
                assert deadline_for(rule, day, demo.CALENDAR, prestation.starts_at).date() < day


def test_heillecourt_wednesdays_and_holidays_of_zone_b():
    wednesdays = opening_dates(PRESTATIONS["mercredi-journee"].schedule, demo.CALENDAR)
    assert dt.date(2026, 11, 11) not in wednesdays  # Armistice
    assert dt.date(2026, 10, 21) not in wednesdays  # Toussaint holidays: the holiday centre takes over
    holidays = opening_dates(PRESTATIONS["vacances-journee"].schedule, demo.CALENDAR)
    assert dt.date(2026, 10, 21) in holidays
    assert dt.date(2027, 3, 1) in holidays  # zone B winter holidays (zone A is back at school)
    assert dt.date(2027, 8, 10) not in holidays  # summer closure
