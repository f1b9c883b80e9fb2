"""Integer cents and the one rounding rule of billing.

Rounding rule: a percentage of an amount is rounded half-up (half away from zero) to the cent,
once per line, before lines are summed. Totals are exact sums of rounded lines, so an invoice
always equals the sum of what it shows. Percentages are held as basis points (1/100 of a per
cent: 100 % = 10 000) so that every computation is exact integer arithmetic.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

BASIS_POINTS_PER_PERCENT = 100
FULL = 100 * BASIS_POINTS_PER_PERCENT  # 100 % in basis points


class MoneyError(ValueError):
    """Invalid money input; `detail` is French, shown to agents as is."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def percent_to_basis_points(percent: int | str | Decimal) -> int:
    """'12.5' -> 1250. More than two decimals of a per cent is refused rather than rounded."""
    try:
        value = Decimal(str(percent))
    except InvalidOperation:
        raise MoneyError(f"Pourcentage invalide : {percent!r}.") from None
    basis_points = value * BASIS_POINTS_PER_PERCENT
    if not value.is_finite() or basis_points != basis_points.to_integral_value():
        raise MoneyError(f"Pourcentage invalide : {percent!r} (au plus deux décimales).")
    return int(basis_points)


def apply_basis_points(amount_cents: int, basis_points: int) -> int:
    """amount × basis_points / 10 000, rounded half away from zero to the cent."""
    if basis_points == FULL:  # the common case, exact
        return amount_cents
    numerator = abs(amount_cents) * abs(basis_points)
    quotient, remainder = divmod(numerator, FULL)
    if 2 * remainder >= FULL:
        quotient += 1
    negative = (amount_cents < 0) != (basis_points < 0)
    return -quotient if negative else quotient


def split_pro_rata(total_cents: int, weights: list[int]) -> list[int]:
    """Share `total_cents` over non-negative `weights`, exactly (largest remainder).

    The parts sum to `total_cents`; ties go to the earliest weight, so the result is stable.
    """
    if total_cents < 0:
        raise MoneyError("Montant à répartir négatif.")
    weight_sum = sum(weights)
    if weight_sum <= 0:
        if total_cents:
            raise MoneyError("Rien sur quoi répartir ce montant.")
        return [0] * len(weights)
    shares = [divmod(total_cents * w, weight_sum) for w in weights]
    parts = [q for q, _ in shares]
    missing = total_cents - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    for index in by_remainder[:missing]:
        parts[index] += 1
    return parts


def format_euros(amount_cents: int) -> str:
    """French display: 1234567 -> '12 345,67 €' (narrow no-break space as thousands separator)."""
    sign = "-" if amount_cents < 0 else ""
    euros, cents = divmod(abs(amount_cents), 100)
    grouped = f"{euros:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{cents:02d}\u00a0€"
