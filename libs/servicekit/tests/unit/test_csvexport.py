import csv
import io

import pytest

from servicekit.csvexport import BOM, cell, csv_text, made_safe


@pytest.mark.parametrize("value, shown", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+33 6", "'+33 6"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"),
    ("Léa", "Léa"), ("a=b", "a=b"), ("", ""), (None, ""), (12, "12"), ("'déjà", "'déjà")])
def test_a_cell_that_would_run_as_a_formula_is_shown_as_text(value, shown):
    assert cell(value) == shown


def test_a_file_has_a_bom_semicolons_crlf_and_every_cell_neutralised():
    text = csv_text(["nom", "=titre"], [["=1+1", "Hugo; « Martin »"], [None, "-"]])
    assert text.startswith(BOM) and text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert text.count("\r\n") == 3
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=";"))
    assert rows == [["nom", "'=titre"], ["'=1+1", "Hugo; « Martin »"], ["", "'-"]]


def test_a_received_csv_is_made_safe_once_whatever_its_bom():
    received = "date;nom\r\n2026-12-01;=cmd|' /C calc'!A0\r\n"
    safe = made_safe(received)
    assert safe == csv_text(["date", "nom"], [["2026-12-01", "=cmd|' /C calc'!A0"]])
    assert made_safe(safe) == safe and made_safe(BOM + received) == safe
    assert made_safe("") == BOM


def test_a_negative_amount_stays_a_number_but_a_formula_after_a_minus_does_not():
    assert cell("-12,50") == "-12,50" and cell("-3") == "-3" and cell("-0.5") == "-0.5"
    assert cell("-2+3") == "'-2+3" and cell("-A1") == "'-A1" and cell("-12,50 €") == "'-12,50 €"
