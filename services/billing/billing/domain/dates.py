"""The four dates of an invoice, from the commune's settings and the invoicing month.

Each date is "day D of the month M months after the invoicing month"; a day past the end of
that month is the month's last day (31 = end of month). Defaults, from the field: published on
the 5th of the next month, deadline shown to parents the 20th, payable online until the 25th,
due (exigible) at the end of that month. The four must keep this order: publication ≤ displayed
deadline ≤ last day payable online ≤ due date. Dates are Europe/Paris calendar days; "until the
25th" includes the 25th.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .calendar import Month


class InvoiceDatesError(ValueError):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True, order=True)
class DayRule:
    months_after: int
    day: int

    def __post_init__(self):
        if not 0 <= self.months_after <= 12 or not 1 <= self.day <= 31:
            raise InvoiceDatesError(f"Règle de date invalide : jour {self.day}, {self.months_after} mois après.")

    def date_for(self, month: Month) -> date:
        return month.plus(self.months_after).day(self.day)


@dataclass(frozen=True, slots=True)
class InvoiceDateSettings:
    publication: DayRule = DayRule(1, 5)
    displayed_deadline: DayRule = DayRule(1, 20)
    last_day_online: DayRule = DayRule(1, 25)
    due: DayRule = DayRule(1, 31)

    def __post_init__(self):
        chain = (self.publication, self.displayed_deadline, self.last_day_online, self.due)
        if list(chain) != sorted(chain):
            raise InvoiceDatesError("Les dates d'une facture doivent se suivre : publication, date limite affichée, "
                                    "dernier jour de paiement en ligne, échéance.")
        if self.publication.months_after == 0:
            raise InvoiceDatesError("Une facture est publiée au plus tôt le mois qui suit le mois facturé.")


@dataclass(frozen=True, slots=True)
class InvoiceDates:
    published_on: date
    displayed_deadline: date
    last_day_online: date
    due_on: date

    def payable_online(self, today: date) -> bool:
        return self.published_on <= today <= self.last_day_online

    def overdue(self, today: date) -> bool:
        return today > self.due_on


def invoice_dates(month: Month, settings: InvoiceDateSettings = InvoiceDateSettings()) -> InvoiceDates:
    return InvoiceDates(settings.publication.date_for(month), settings.displayed_deadline.date_for(month),
                        settings.last_day_online.date_for(month), settings.due.date_for(month))
