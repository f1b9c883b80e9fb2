"""Gap-free numbering per commune, series and year: format, parse, next number, audit."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.calendar import Month
from billing.domain.numbering import (DocumentNumber, NumberingError, Series, SeriesKey, audit_series, next_number,
                                      number_in_order, number_in_sequence, parse_number, series_key)


def test_numbers_read_like_the_field_examples():
    assert str(DocumentNumber(Series.INVOICE, Month(2026, 9), 123)) == "F-2026-09-0000123"
    assert str(DocumentNumber(Series.CREDIT_NOTE, Month(2026, 10), 1)) == "A-2026-10-0000001"
    assert str(DocumentNumber(Series.PAYMENT, Month(2027, 1), 9_999_999)) == "P-2027-01-9999999"


def test_the_first_number_of_a_series_is_one_and_then_each_follows_the_last():
    assert next_number(Series.INVOICE, Month(2026, 9), None).counter == 1
    assert next_number(Series.INVOICE, Month(2026, 9), 0).counter == 1
    assert str(next_number(Series.INVOICE, Month(2026, 9), 122)) == "F-2026-09-0000123"


def test_the_counter_belongs_to_the_commune_series_and_invoicing_year():
    december = next_number(Series.INVOICE, Month(2026, 12), 41)  # published in January 2027
    assert december.series_key("c1") == SeriesKey("c1", Series.INVOICE, 2026)
    assert series_key("c1", Series.PAYMENT, Month(2027, 1)) == SeriesKey("c1", Series.PAYMENT, 2027)
    assert series_key("c1", Series.CREDIT_NOTE, Month(2026, 3)) != series_key("c1", Series.INVOICE, Month(2026, 3))
    assert series_key("c1", Series.INVOICE, Month(2026, 3)) != series_key("c2", Series.INVOICE, Month(2026, 3))


def test_documents_finalised_together_take_consecutive_numbers():
    numbers = number_in_order(Series.INVOICE, Month(2026, 9), 10, 3)
    assert [str(n) for n in numbers] == ["F-2026-09-0000011", "F-2026-09-0000012", "F-2026-09-0000013"]
    assert number_in_order(Series.INVOICE, Month(2026, 9), 10, 0) == []


def test_an_exhausted_series_is_refused_rather_than_wrapped():
    with pytest.raises(NumberingError, match="épuisée"):
        next_number(Series.INVOICE, Month(2026, 9), 9_999_999)
    with pytest.raises(NumberingError, match="épuisée"):
        number_in_order(Series.INVOICE, Month(2026, 9), 9_999_998, 2)


@pytest.mark.parametrize("bad", ["F-2026-9-0000123", "X-2026-09-0000123", "F-2026-13-0000001", "F-2026-09-0000000",
                                 "F-2026-09-123", "", "F-2026-09-00001234"])
def test_malformed_numbers_are_refused_in_french(bad):
    with pytest.raises(NumberingError, match="Numéro"):
        parse_number(bad)


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.sampled_from(list(Series)), st.integers(2000, 9999), st.integers(1, 12), st.integers(1, 9_999_999))
def test_parse_reads_back_what_format_writes(series, year, month, counter):
    number = DocumentNumber(series, Month(year, month), counter)
    assert parse_number(str(number)) == number


def test_the_audit_finds_gaps_and_duplicates_per_series_and_year():
    audit = audit_series(["F-2026-09-0000001", "F-2026-09-0000002", "F-2026-10-0000004", "F-2026-10-0000004",
                          "A-2026-10-0000001", "F-2027-01-0000001"])
    assert audit[(Series.INVOICE, 2026)].missing == (3,)
    assert audit[(Series.INVOICE, 2026)].duplicates == (4,)
    assert audit[(Series.CREDIT_NOTE, 2026)].ok and audit[(Series.INVOICE, 2027)].ok


@settings(deadline=None)  # shared machine: no per-example time limit
@given(st.integers(0, 500), st.integers(1, 200))
def test_allocating_one_by_one_from_the_last_counter_never_leaves_a_gap(start, count):
    last, numbers = start, []
    for _ in range(count):
        number = next_number(Series.PAYMENT, Month(2026, 9), last)
        numbers.append(number)
        last = number.counter
    audit = audit_series(numbers + [DocumentNumber(Series.PAYMENT, Month(2026, 1), n) for n in range(1, start + 1)])
    assert audit[(Series.PAYMENT, 2026)].ok


def test_documents_finalised_together_are_numbered_in_order_in_their_own_series_and_year():
    numbers, last = number_in_sequence(
        [(Series.INVOICE, Month(2026, 12)), (Series.CREDIT_NOTE, Month(2026, 12)), (Series.INVOICE, Month(2026, 12)),
         (Series.INVOICE, Month(2027, 1))],
        {(Series.INVOICE, 2026): 41})
    assert [str(n) for n in numbers] == ["F-2026-12-0000042", "A-2026-12-0000001", "F-2026-12-0000043",
                                         "F-2027-01-0000001"]
    assert last == {(Series.INVOICE, 2026): 43, (Series.CREDIT_NOTE, 2026): 1, (Series.INVOICE, 2027): 1}
