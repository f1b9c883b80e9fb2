"""A commune's catalogue as data: services and their prestations, and the checks an agent's
edit must pass before it is saved."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from .deadlines import BeforeHolidayPeriod, HoursBeforeStart
from .openings import OpensDuring, Schedule
from .policy import BookingPolicy


class PaymentMode(Enum):
    PREPAID = ("prepaid", "Paiement à la réservation")
    END_OF_MONTH = ("end_of_month", "Facturé en fin de mois")

    def __init__(self, code: str, label: str):
        self.code = code
        self.label = label


class RefundDecision(Enum):
    NOT_INVOICED = ("not_invoiced", "Non facturé")  # end-of-month dates: nothing was paid
    REFUND = ("refund", "Remboursement")
    CREDIT = ("credit", "Avoir sur la prochaine facture")
    NONE = ("none", "Sans remboursement")

    def __init__(self, code: str, label: str):
        self.code = code
        self.label = label


@dataclass(frozen=True)
class Service:
    id: str
    label: str  # "Restauration scolaire"


@dataclass(frozen=True)
class Prestation:
    id: str
    service_id: str
    label: str  # "Repas", "Journée", "Demi-journée (matin)"
    schedule: Schedule
    policy: BookingPolicy
    payment_mode: PaymentMode
    price_ref: str  # billing prices it (by quotient familial bracket); booking stores no amount
    capacity: int | None = None  # places per date; None = unlimited
    starts_at: dt.time | None = None
    ends_at: dt.time | None = None
    waiting_list: bool = False
    waiting_list_auto_confirm: bool = False  # otherwise an agent confirms the promoted child
    cancellation_auto_accept: bool = True  # otherwise cancellations wait for an agent
    refund_on_cancellation: RefundDecision = RefundDecision.CREDIT  # prepaid dates cancelled in time


def prestation_problems(prestation: Prestation) -> list[str]:
    """What is inconsistent in a prestation, in French, for the agent who edits it (empty = valid)."""
    problems = []
    rules = (prestation.policy.booking_deadline, prestation.policy.cancellation_deadline)
    if (any(isinstance(rule, BeforeHolidayPeriod) for rule in rules)
            and prestation.schedule.opens_during is not OpensDuring.SCHOOL_HOLIDAYS):
        problems.append("Un délai « avant les vacances » ne s'applique qu'à un accueil ouvert pendant les vacances")
    if any(isinstance(rule, HoursBeforeStart) for rule in rules) and prestation.starts_at is None:
        problems.append("Un délai en heures demande l'heure de début de la prestation")
    if prestation.capacity is not None and prestation.capacity < 0:
        problems.append("La capacité ne peut pas être négative")
    if prestation.starts_at and prestation.ends_at and prestation.ends_at <= prestation.starts_at:
        problems.append("L'heure de fin doit suivre l'heure de début")
    if prestation.waiting_list and prestation.capacity is None:
        problems.append("Une liste d'attente demande une capacité")
    if prestation.waiting_list_auto_confirm and not prestation.waiting_list:
        problems.append("La confirmation automatique demande une liste d'attente")
    if prestation.policy.horizon_days is not None and prestation.policy.horizon_days < 1:
        problems.append("L'horizon de réservation doit être d'au moins un jour")
    if prestation.refund_on_cancellation is RefundDecision.NOT_INVOICED:
        problems.append("« Non facturé » ne s'applique qu'aux prestations facturées en fin de mois")
    if not prestation.price_ref.strip():
        problems.append("La référence de tarif est obligatoire")
    return problems
