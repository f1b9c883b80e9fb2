import datetime as dt
from dataclasses import replace

from booking.domain.catalogue import prestation_problems
from booking.domain.deadlines import BeforeHolidayPeriod, HoursBeforeStart
from booking.domain.openings import OpensDuring
from booking.domain.policy import BookingPolicy


def test_a_consistent_prestation_has_no_problem(prestation):
    assert prestation_problems(prestation()) == []


def test_each_inconsistency_is_reported_in_french(prestation):
    holiday_rule = BeforeHolidayPeriod(15, dt.time(0))
    cases = [
        (dict(policy=BookingPolicy(holiday_rule, holiday_rule)), "vacances"),
        (dict(policy=BookingPolicy(HoursBeforeStart(72), HoursBeforeStart(72))), "heure de début"),
        (dict(capacity=-1), "négative"),
        (dict(starts_at=dt.time(12), ends_at=dt.time(11)), "heure de fin"),
        (dict(capacity=None, waiting_list=True), "capacité"),
        (dict(waiting_list_auto_confirm=True), "liste d'attente"),
        (dict(policy=BookingPolicy(HoursBeforeStart(1), HoursBeforeStart(1), horizon_days=0),
              starts_at=dt.time(8)), "horizon"),
        (dict(price_ref=" "), "tarif"),
    ]
    for changes, words in cases:
        problems = prestation_problems(prestation(**changes))
        assert len(problems) == 1 and words in problems[0], (changes, problems)


def test_a_holiday_rule_is_fine_on_a_holiday_schedule(prestation):
    holiday_rule = BeforeHolidayPeriod(15, dt.time(0))
    base = prestation()
    holidays = prestation(schedule=replace(base.schedule, opens_during=OpensDuring.SCHOOL_HOLIDAYS),
                          policy=BookingPolicy(holiday_rule, holiday_rule))
    assert prestation_problems(holidays) == []
