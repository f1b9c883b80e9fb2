"""Invoice dates from commune settings; invoicing months and French date wording."""
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.calendar import Month, long_date
from billing.domain.dates import DayRule, InvoiceDatesError, InvoiceDateSettings, invoice_dates


def test_default_dates_follow_the_field_practice():
    dates = invoice_dates(Month(2026, 9))
    assert dates.published_on == date(2026, 10, 5)
    assert dates.displayed_deadline == date(2026, 10, 20)
    assert dates.last_day_online == date(2026, 10, 25)
    assert dates.due_on == date(2026, 10, 31)


def test_december_invoices_are_dated_in_january_and_day_31_means_end_of_month():
    dates = invoice_dates(Month(2026, 12))
    assert dates.published_on == date(2027, 1, 5) and dates.due_on == date(2027, 1, 31)
    assert invoice_dates(Month(2027, 1)).due_on == date(2027, 2, 28)
    assert invoice_dates(Month(2028, 1)).due_on == date(2028, 2, 29)


def test_a_commune_sets_its_own_days():
    settings = InvoiceDateSettings(DayRule(1, 10), DayRule(1, 25), DayRule(1, 28), DayRule(2, 10))
    dates = invoice_dates(Month(2026, 9), settings)
    assert (dates.published_on, dates.displayed_deadline, dates.last_day_online, dates.due_on) == (
        date(2026, 10, 10), date(2026, 10, 25), date(2026, 10, 28), date(2026, 11, 10))


def test_payable_online_from_publication_to_the_last_day_included():
    dates = invoice_dates(Month(2026, 9))
    assert not dates.payable_online(date(2026, 10, 4))
    assert dates.payable_online(date(2026, 10, 5)) and dates.payable_online(date(2026, 10, 25))
    assert not dates.payable_online(date(2026, 10, 26))
    assert not dates.overdue(date(2026, 10, 31)) and dates.overdue(date(2026, 11, 1))


@pytest.mark.parametrize("settings", [
    dict(displayed_deadline=DayRule(1, 2)),                            # before publication
    dict(last_day_online=DayRule(1, 15)),                              # before the displayed deadline
    dict(due=DayRule(1, 22)),                                          # before the last day online
    dict(publication=DayRule(0, 28), displayed_deadline=DayRule(1, 1)),  # published in the invoiced month
])
def test_dates_out_of_order_are_refused_in_french(settings):
    with pytest.raises(InvoiceDatesError) as error:
        InvoiceDateSettings(**settings)
    assert "facture" in error.value.detail


@pytest.mark.parametrize("months_after, day", [(0, 0), (0, 32), (-1, 5), (13, 5)])
def test_impossible_day_rules_are_refused(months_after, day):
    with pytest.raises(InvoiceDatesError, match="Règle de date invalide"):
        DayRule(months_after, day)


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.integers(2000, 2100), st.integers(1, 12), st.integers(1, 31), st.integers(0, 12))
def test_day_rules_always_land_in_the_target_month(year, month, day, after):
    landed = DayRule(after, day).date_for(Month(year, month))
    assert Month.of(landed) == Month(year, month).plus(after)
    assert landed.day == min(day, Month.of(landed).last_day.day)


def test_months_parse_print_and_step():
    assert Month.parse("2026-09") == Month(2026, 9) and str(Month(2026, 9)) == "2026-09"
    assert Month(2026, 12).plus(1) == Month(2027, 1) and Month(2026, 1).plus(-1) == Month(2025, 12)
    assert Month(2026, 9).label == "septembre 2026"
    assert date(2026, 9, 30) in Month(2026, 9) and date(2026, 10, 1) not in Month(2026, 9)
    with pytest.raises(ValueError, match="Mois invalide"):
        Month.parse("2026/09")
    with pytest.raises(ValueError, match="Mois invalide"):
        Month(2026, 13)


def test_long_dates_are_written_in_french():
    assert long_date(date(2026, 9, 1)) == "mardi 1er septembre 2026"
    assert long_date(date(2026, 8, 15)) == "samedi 15 août 2026"
