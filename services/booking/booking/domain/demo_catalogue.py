"""The demo commune's catalogue for the 2026-2027 school year, as data the seed command stores.

Heillecourt (Meurthe-et-Moselle, académie de Nancy-Metz) is in school-holiday zone B; its schools
run a four-day week (no class on Wednesday), so the canteen and the périscolaire open on Monday,
Tuesday, Thursday and Friday and the leisure centre takes Wednesdays. Amounts live in billing,
under each `price_ref`.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .catalogue import PaymentMode, Prestation, Service
from .closures import CommuneCalendar
from .deadlines import BeforeHolidayPeriod, CalendarDaysBefore, HoursBeforeStart, WeeklyCutoff, WorkingDaysBefore
from .openings import OpensDuring, Schedule
from .policy import BookingPolicy, OpeningWindow

PARIS = ZoneInfo("Europe/Paris")
COMMUNE_SLUG = "heillecourt"
CALENDAR = CommuneCalendar("B", school_weekdays=frozenset({0, 1, 3, 4}))

SCHOOL_DAYS = frozenset({0, 1, 3, 4})  # Monday, Tuesday, Thursday, Friday
WEDNESDAY = frozenset({2})
MONDAY_TO_FRIDAY = frozenset(range(5))
SCHOOL_YEAR = (dt.date(2026, 9, 1), dt.date(2027, 7, 2))  # rentrée Tuesday 1 September; last class Friday 2 July
HOLIDAY_SEASON = (dt.date(2026, 10, 19), dt.date(2027, 8, 27))  # Toussaint 2026 to the end of summer 2027
SUMMER_CLOSURE = frozenset(dt.date(2027, 8, 9) + dt.timedelta(days=n) for n in range(12))  # 9-20 August


def _paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


SERVICES = (
    Service("cantine", "Restauration scolaire"),
    Service("periscolaire", "Périscolaire matin et soir"),
    Service("alsh-mercredi", "Accueil de loisirs du mercredi"),
    Service("alsh-vacances", "Accueil de loisirs des vacances"),
)

_term_schedule = Schedule(*SCHOOL_YEAR, weekdays=SCHOOL_DAYS)
_wednesday_schedule = Schedule(*SCHOOL_YEAR, weekdays=WEDNESDAY)
_holiday_schedule = Schedule(*HOLIDAY_SEASON, weekdays=MONDAY_TO_FRIDAY, opens_during=OpensDuring.SCHOOL_HOLIDAYS,
                             closed_dates=SUMMER_CLOSURE)

# The day before at 10:00 counted in working days: Monday's meals close on Friday morning.
_canteen_policy = BookingPolicy(booking_deadline=WorkingDaysBefore(1, dt.time(10)),
                                cancellation_deadline=WorkingDaysBefore(1, dt.time(10)))
_care_policy = BookingPolicy(booking_deadline=CalendarDaysBefore(1, dt.time(18)),
                             cancellation_deadline=CalendarDaysBefore(1, dt.time(18)))
_wednesday_policy = BookingPolicy(booking_deadline=WeeklyCutoff(3, dt.time(9)),  # Thursday 09:00 for next week
                                  cancellation_deadline=HoursBeforeStart(72), horizon_days=56)
_holiday_policy = BookingPolicy(
    booking_deadline=BeforeHolidayPeriod(15, dt.time(0)),
    cancellation_deadline=BeforeHolidayPeriod(15, dt.time(0)),
    windows=(  # residents of Heillecourt first, then everyone a week later
        OpeningWindow(dt.date(2026, 10, 19), dt.date(2026, 10, 30), _paris(2026, 9, 14, 9), _paris(2026, 9, 7, 9)),
        OpeningWindow(dt.date(2026, 12, 21), dt.date(2027, 1, 1), _paris(2026, 11, 16, 9), _paris(2026, 11, 9, 9)),
        OpeningWindow(dt.date(2027, 2, 22), dt.date(2027, 3, 5), _paris(2027, 1, 11, 9), _paris(2027, 1, 4, 9)),
        OpeningWindow(dt.date(2027, 4, 19), dt.date(2027, 5, 7), _paris(2027, 3, 8, 9), _paris(2027, 3, 1, 9)),
        OpeningWindow(dt.date(2027, 7, 5), dt.date(2027, 8, 27), _paris(2027, 5, 10, 9), _paris(2027, 5, 3, 9)),
    ))

PRESTATIONS = (
    Prestation("cantine-repas", "cantine", "Repas", _term_schedule, _canteen_policy, PaymentMode.END_OF_MONTH,
               price_ref="CANTINE-REPAS", capacity=180, starts_at=dt.time(11, 45), ends_at=dt.time(13, 30)),
    Prestation("peri-matin", "periscolaire", "Accueil du matin", _term_schedule, _care_policy,
               PaymentMode.END_OF_MONTH, price_ref="PERI-MATIN", capacity=30,
               starts_at=dt.time(7, 30), ends_at=dt.time(8, 20)),
    Prestation("peri-soir", "periscolaire", "Accueil du soir", _term_schedule, _care_policy,
               PaymentMode.END_OF_MONTH, price_ref="PERI-SOIR", capacity=45,
               starts_at=dt.time(16, 30), ends_at=dt.time(18, 30)),
    Prestation("mercredi-journee", "alsh-mercredi", "Journée (avec repas)", _wednesday_schedule, _wednesday_policy,
               PaymentMode.PREPAID, price_ref="ALSH-MERCREDI-JOURNEE", capacity=40,
               starts_at=dt.time(7, 30), ends_at=dt.time(18, 30), waiting_list=True, waiting_list_auto_confirm=True),
    Prestation("mercredi-demi-journee", "alsh-mercredi", "Demi-journée (matin)", _wednesday_schedule,
               _wednesday_policy, PaymentMode.PREPAID, price_ref="ALSH-MERCREDI-DEMI", capacity=16,
               starts_at=dt.time(7, 30), ends_at=dt.time(12), waiting_list=True, waiting_list_auto_confirm=True),
    Prestation("vacances-journee", "alsh-vacances", "Journée (avec repas)", _holiday_schedule, _holiday_policy,
               PaymentMode.PREPAID, price_ref="ALSH-VACANCES-JOURNEE", capacity=60,
               starts_at=dt.time(7, 30), ends_at=dt.time(18, 30), waiting_list=True,
               cancellation_auto_accept=False),  # agents decide on refunds (medical certificate…)
)
