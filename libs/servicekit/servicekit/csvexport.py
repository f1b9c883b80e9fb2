"""CSV exports French spreadsheets open safely: `;` separator, CRLF, UTF-8 with a BOM (so
Excel reads the accents), and cells that a spreadsheet would run as a formula neutralised.

A cell starting with = + - @, a tab or a carriage return (a name typed by a parent, say) is
prefixed with a quote: the spreadsheet shows it as text instead of evaluating it (CSV injection).
A plain number ("-12,50", "-3") is left alone: it is no formula, and accounting needs it as a number.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+([.,]\d+)?")


def cell(value: Any) -> str:
    """The text of one cell, neutralised; None is an empty cell."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV file: the BOM, the header, then every row, each cell neutralised."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([cell(v) for v in header])
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue()


def made_safe(text: str) -> str:
    """A `;` CSV received from elsewhere (with or without a BOM), written again the safe way."""
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=";"))
    return csv_text(rows[0], rows[1:]) if rows else BOM
