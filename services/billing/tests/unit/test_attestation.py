"""Yearly payment certificate: paid in the year, per child and service, tax amount for under-sixes."""
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.attestation import (Child, InvoicedLine, PaymentPart, under_six_for_tax, yearly_attestation)

LEA = Child("c1", "Léa", date(2021, 3, 2))   # under six in 2026
TOM = Child("c2", "Tom", date(2018, 5, 20))  # not any more
LINES = [
    InvoicedLine("inv-sept", "c1", "Accueil de loisirs", True, 3_000),
    InvoicedLine("inv-sept", "c1", "Restauration scolaire", False, 1_000),
    InvoicedLine("inv-sept", "c2", "Accueil de loisirs", True, 2_000),
    InvoicedLine("inv-dec", "c1", "Accueil de loisirs", True, 1_500),
]


def attestation(payments, year=2026):
    return yearly_attestation(year, "f1", "c1", [LEA, TOM], LINES, payments)


def test_paid_amounts_are_shared_per_child_and_service_and_only_the_under_six_childcare_is_for_tax():
    result = attestation([PaymentPart("p1", "inv-sept", date(2026, 10, 12), 6_000, "online")])
    assert result.paid_cents == 6_000
    lea, tom = result.by_child
    assert (lea.name, lea.paid_cents, lea.by_service) == (
        "Léa", 4_000, (("Accueil de loisirs", 3_000), ("Restauration scolaire", 1_000)))
    assert lea.tax_childcare_cents == 3_000  # meals never count
    assert (tom.name, tom.paid_cents, tom.tax_childcare_cents) == ("Tom", 2_000, 0)
    assert result.by_service == (("Accueil de loisirs", 5_000), ("Restauration scolaire", 1_000))
    assert result.tax_childcare_cents == 3_000


def test_a_partial_payment_is_shared_in_proportion_exactly():
    result = attestation([PaymentPart("p1", "inv-sept", date(2026, 10, 12), 1_001, "cash")])
    assert result.paid_cents == 1_001 == sum(child.paid_cents for child in result.by_child)
    assert dict(result.by_service) == {"Accueil de loisirs": 834, "Restauration scolaire": 167}


def test_only_payments_of_the_year_count_whatever_month_was_invoiced():
    payments = [PaymentPart("p1", "inv-dec", date(2027, 1, 8), 1_500, "online"),
                PaymentPart("p0", "inv-sept", date(2025, 12, 30), 500, "online")]
    assert attestation(payments).paid_cents == 0
    assert attestation(payments, year=2027).paid_cents == 1_500


def test_credits_are_not_payments_and_cesu_is_shown_but_not_for_tax():
    result = attestation([PaymentPart("p1", "inv-dec", date(2026, 12, 20), 500, "credit"),
                          PaymentPart("p2", "inv-dec", date(2026, 12, 21), 1_000, "cesu")])
    assert result.paid_cents == 1_000 and result.tax_childcare_cents == 0


def test_lines_without_a_child_and_unknown_invoices_still_add_up():
    lines = [InvoicedLine("i", "", "Régularisation", False, 200), InvoicedLine("i", "c1", "Accueil", True, 800),
             InvoicedLine("i", "c1", "Remise", False, -300)]
    result = yearly_attestation(2026, "f1", "c1", [LEA], lines, [
        PaymentPart("p1", "i", date(2026, 3, 1), 700, "cheque"),
        PaymentPart("p2", "unknown", date(2026, 3, 1), 100, "cash")])
    assert result.paid_cents == 800
    assert [(c.name, c.paid_cents) for c in result.by_child] == [("Léa", 560), ("Sans enfant", 240)]


def test_under_six_means_born_on_or_after_first_january_six_years_before():
    assert under_six_for_tax(Child("x", "X", date(2020, 1, 1)), 2026)
    assert not under_six_for_tax(Child("x", "X", date(2019, 12, 31)), 2026)


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.lists(st.tuples(st.sampled_from(["inv-sept", "inv-dec"]), st.integers(1, 10_000),
                          st.sampled_from(["online", "cash", "cesu", "credit"])), max_size=10))
def test_per_child_and_per_service_totals_always_equal_what_was_paid(parts):
    payments = [PaymentPart(f"p{i}", inv, date(2026, 6, 1), amount, method)
                for i, (inv, amount, method) in enumerate(parts)]
    result = attestation(payments)
    expected = sum(amount for _, amount, method in parts if method != "credit")
    assert result.paid_cents == expected == sum(c.paid_cents for c in result.by_child) == sum(
        cents for _, cents in result.by_service)
    assert 0 <= result.tax_childcare_cents <= expected
