"""Why a date cannot be booked or cancelled: one code per reason, one French label.

Every rule module answers "why not" with a member of `Reason`; adapters show `.label` to
parents and agents and put `.code` in API payloads.
"""
from enum import Enum


class Reason(Enum):
    # Opening dates (séances)
    OUTSIDE_PERIOD = ("outside_period", "En dehors de la période d'ouverture")
    NOT_AN_OPENING_WEEKDAY = ("not_an_opening_weekday", "Pas d'accueil ce jour de la semaine")
    PUBLIC_HOLIDAY = ("public_holiday", "Jour férié")
    SCHOOL_HOLIDAY = ("school_holiday", "Vacances scolaires")
    SCHOOL_TERM = ("school_term", "Ouvert uniquement pendant les vacances scolaires")
    AD_HOC_CLOSURE = ("ad_hoc_closure", "Fermeture exceptionnelle")
    # Deadlines, horizon, opening windows
    BOOKING_DEADLINE_PASSED = ("booking_deadline_passed", "Le délai de réservation est dépassé")
    CANCELLATION_DEADLINE_PASSED = ("cancellation_deadline_passed", "Le délai d'annulation est dépassé")
    BEYOND_HORIZON = ("beyond_horizon", "Trop tôt : cette date n'est pas encore réservable")
    NOT_YET_OPEN = ("not_yet_open", "Les réservations pour cette période ne sont pas encore ouvertes")
    # Cart lines
    NOT_ENROLLED = ("not_enrolled", "L'enfant n'est pas inscrit à ce service pour cette période")
    UNKNOWN_PRESTATION = ("unknown_prestation", "Prestation inconnue")
    ALREADY_BOOKED = ("already_booked", "Cette date est déjà réservée")
    NOT_BOOKED = ("not_booked", "Cette date n'est pas réservée")
    CANCELLATION_ALREADY_REQUESTED = ("cancellation_already_requested", "L'annulation est déjà demandée")
    FULL = ("full", "Complet")

    def __init__(self, code: str, label: str):
        self.code = code
        self.label = label


OPENING_REASONS = frozenset({
    Reason.OUTSIDE_PERIOD, Reason.NOT_AN_OPENING_WEEKDAY, Reason.PUBLIC_HOLIDAY,
    Reason.SCHOOL_HOLIDAY, Reason.SCHOOL_TERM, Reason.AD_HOC_CLOSURE,
})
