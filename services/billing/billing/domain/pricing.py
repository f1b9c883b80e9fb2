"""What one attended (or missed) day costs: price grid by quotient familial, charge rule by reason.

- A price grid is an ordered list of brackets, each an inclusive upper bound of QF (in euros)
  and a price in cents; the last bracket has no upper bound. A QF equal to a bound falls in
  that bracket. A family without a proof of QF (qf is None) pays the highest bracket.
- Each attendance reason carries a charge rule: a percentage of the price plus a fixed amount
  (either can be zero), so "100 %", "5,00 € flat" and "price + 2,00 € surcharge" are all one
  shape. The percentage part is rounded half-up to the cent (see money.py).
- Justified absences are never charged: a rule set that charges them is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Mapping

from .money import FULL, MoneyError, apply_basis_points, format_euros, percent_to_basis_points


class PricingError(MoneyError):
    """Invalid grid or rule set (French `detail`)."""


class Reason(StrEnum):
    """Why a day is on the invoice: what booking recorded for a child, a prestation and a date."""

    PRESENT = "present"
    ABSENT_JUSTIFIED = "absent_justified"
    ABSENT_UNJUSTIFIED = "absent_unjustified"
    CANCELLED_IN_TIME = "cancelled_in_time"
    CANCELLED_LATE = "cancelled_late"
    PRESENT_WITHOUT_BOOKING = "present_without_booking"
    NOT_BOOKED = "not_booked"


REASON_LABELS = {
    Reason.PRESENT: "présent",
    Reason.ABSENT_JUSTIFIED: "absence justifiée",
    Reason.ABSENT_UNJUSTIFIED: "absence non justifiée",
    Reason.CANCELLED_IN_TIME: "annulé dans les délais",
    Reason.CANCELLED_LATE: "annulé hors délai",
    Reason.PRESENT_WITHOUT_BOOKING: "présent sans réservation",
    Reason.NOT_BOOKED: "non réservé",
}


@dataclass(frozen=True, slots=True)
class Bracket:
    upper_qf: int | None  # inclusive, euros; None = no upper bound (the highest bracket)
    price_cents: int


@dataclass(frozen=True, slots=True)
class PriceGrid:
    brackets: tuple[Bracket, ...]

    def __post_init__(self):
        if not self.brackets:
            raise PricingError("Une grille de tarifs a au moins une tranche.")
        *bounded, last = self.brackets
        if last.upper_qf is not None:
            raise PricingError("La dernière tranche de quotient familial n'a pas de plafond.")
        bounds = [b.upper_qf for b in bounded]
        if any(b is None for b in bounds) or bounds != sorted(set(bounds)):
            raise PricingError("Les plafonds de quotient familial doivent être croissants et distincts.")
        if any(b.price_cents < 0 for b in self.brackets):
            raise PricingError("Un tarif ne peut pas être négatif.")

    @classmethod
    def flat(cls, price_cents: int) -> PriceGrid:
        return cls((Bracket(None, price_cents),))

    @classmethod
    def of(cls, *pairs: tuple[int | None, int]) -> PriceGrid:
        """PriceGrid.of((500, 150), (900, 280), (None, 410))."""
        return cls(tuple(Bracket(upper, price) for upper, price in pairs))

    def price_for(self, qf: int | None) -> int:
        if qf is None:
            return self.brackets[-1].price_cents
        for bracket in self.brackets:  # few brackets: a scan is faster than bisect here
            if bracket.upper_qf is None or qf <= bracket.upper_qf:
                return bracket.price_cents
        raise AssertionError("unreachable: the last bracket is unbounded")


@dataclass(frozen=True, slots=True)
class ChargeRule:
    basis_points: int = 0  # share of the price, 10 000 = 100 %
    fixed_cents: int = 0  # added to that share (a flat amount or a surcharge)

    def __post_init__(self):
        if self.basis_points < 0 or self.fixed_cents < 0:
            raise PricingError("Une règle de facturation ne peut pas être négative.")

    @classmethod
    def percent(cls, percent: int | str | Decimal, plus_cents: int = 0) -> ChargeRule:
        return cls(percent_to_basis_points(percent), plus_cents)

    @classmethod
    def fixed(cls, cents: int) -> ChargeRule:
        return cls(0, cents)

    @property
    def is_free(self) -> bool:
        return self.basis_points == 0 and self.fixed_cents == 0

    def amount(self, price_cents: int) -> int:
        return apply_basis_points(price_cents, self.basis_points) + self.fixed_cents

    def describe(self) -> str:
        parts = []
        if self.basis_points:
            parts.append(f"{Decimal(self.basis_points) / 100:g} % du tarif")
        if self.fixed_cents:
            parts.append(format_euros(self.fixed_cents))
        return " + ".join(parts) or "gratuit"


FREE = ChargeRule()
FULL_PRICE = ChargeRule(FULL)

# Defaults from the field: present 100 %, absences 0 %, cancelled in time 0 %, not booked 0 %.
# Our choices where the field is silent: a late cancellation is charged like a booked day
# (that is what a cancellation deadline means); a presence without booking is charged the price
# (a commune adds its surcharge on top in its own rule set).
DEFAULT_RULES: Mapping[Reason, ChargeRule] = MappingProxyType({
    Reason.PRESENT: FULL_PRICE,
    Reason.ABSENT_JUSTIFIED: FREE,
    Reason.ABSENT_UNJUSTIFIED: FREE,
    Reason.CANCELLED_IN_TIME: FREE,
    Reason.CANCELLED_LATE: FULL_PRICE,
    Reason.PRESENT_WITHOUT_BOOKING: FULL_PRICE,
    Reason.NOT_BOOKED: FREE,
})


@dataclass(frozen=True)
class RuleSet:
    """A commune's (or a prestation's) charge rule per reason; unspecified reasons use the defaults."""

    overrides: Mapping[Reason, ChargeRule] = field(default_factory=dict)
    rules: Mapping[Reason, ChargeRule] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        overrides = {Reason(reason): rule for reason, rule in self.overrides.items()}
        if not overrides.get(Reason.ABSENT_JUSTIFIED, FREE).is_free:
            raise PricingError("Une absence justifiée n'est jamais facturée.")
        object.__setattr__(self, "overrides", MappingProxyType(overrides))
        object.__setattr__(self, "rules", MappingProxyType({**DEFAULT_RULES, **overrides}))

    def rule_for(self, reason: Reason) -> ChargeRule:
        return self.rules[reason]


DEFAULT_RULE_SET = RuleSet()


def line_amount(grid: PriceGrid, qf: int | None, reason: Reason, rules: RuleSet = DEFAULT_RULE_SET) -> int:
    """The amount in cents of one day for a family of quotient `qf` (None: no proof of QF)."""
    return rules.rule_for(reason).amount(grid.price_for(qf))
