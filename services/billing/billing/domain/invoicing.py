"""The monthly invoicing run, computed as a draft from plain data; corrective runs.

Rules (see README.md):
- One document per family per commune per month, lines per child, prestation and date.
- A day is invoiced at most once: its `key` (booking id, or attendance id for a presence without
  booking) is skipped when it is in `already_invoiced` or was seen earlier in the same input.
  Running the same month again therefore only picks up what was not invoiced yet.
- Days of earlier months not invoiced yet are caught up in this run, with a warning; days after
  the month are left for their own run.
- A booking whose attendance is not recorded is not invoiced (it stays for a later run) and gets
  a warning, unless the run charges such days as booked (`RunOptions.unrecorded_as_present`).
- A family without a QF pays the highest bracket, with a warning.
- A positive total is an invoice; the family's open credits of that commune are applied to it,
  oldest first. A negative total is a credit note (avoir) of the opposite amount. A zero total
  issues nothing but a warning. The days of every family priced by the run, zero totals included,
  are in `RunDraft.invoiced_keys`: the adapter records them so that they never come back.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Iterable, Mapping

from .calendar import Month, long_date
from .money import format_euros
from .numbering import Series
from .pricing import DEFAULT_RULE_SET, REASON_LABELS, PriceGrid, Reason, RuleSet


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"

    @property
    def series(self) -> Series:
        return Series.INVOICE if self is DocumentKind.INVOICE else Series.CREDIT_NOTE


# --- input --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Family:
    id: str
    commune_id: str
    name: str
    qf: int | None  # None: no proof of QF


@dataclass(frozen=True, slots=True)
class Prestation:
    id: str
    label: str
    grid: PriceGrid
    rules: RuleSet = DEFAULT_RULE_SET


@dataclass(frozen=True, slots=True)
class DayItem:
    """One child, one prestation, one date, as booking reports it for the month."""

    key: str
    family_id: str
    child_id: str
    child_name: str
    prestation_id: str
    day: date
    reason: Reason | None  # None: attendance not recorded yet

    def __post_init__(self):
        if self.reason is not None and not isinstance(self.reason, Reason):  # e.g. a stored string
            object.__setattr__(self, "reason", Reason(self.reason))


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A signed line an agent adds (e.g. refund of an accepted cancellation: negative)."""

    key: str
    family_id: str
    label: str
    amount_cents: int
    day: date
    child_name: str = ""


@dataclass(frozen=True, slots=True)
class OpenCredit:
    id: str
    family_id: str
    commune_id: str
    issued_on: date
    remaining_cents: int


@dataclass(frozen=True, slots=True)
class RunOptions:
    unrecorded_as_present: bool = False  # charge bookings without attendance as present


# --- output -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Line:
    key: str
    child_id: str
    child_name: str
    prestation_id: str | None
    prestation_label: str
    day: date
    reason: Reason | None
    unit_price_cents: int
    amount_cents: int
    label: str


@dataclass(frozen=True, slots=True)
class CreditUse:
    credit_id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class DraftDocument:
    kind: DocumentKind
    family_id: str
    commune_id: str
    month: Month
    lines: tuple[Line, ...]
    total_cents: int  # sum of the lines; negative for a credit note
    credit_uses: tuple[CreditUse, ...] = ()
    corrects: str | None = None  # id of the corrected document, for a corrective document

    @property
    def credited_cents(self) -> int:
        return sum(use.amount_cents for use in self.credit_uses)

    @property
    def amount_due_cents(self) -> int:
        """What the family still has to pay (0 for a credit note)."""
        return max(self.total_cents, 0) - self.credited_cents

    @property
    def credit_cents(self) -> int:
        """The value of the credit note (0 for an invoice)."""
        return -self.total_cents if self.total_cents < 0 else 0


class WarningCode(StrEnum):
    ATTENDANCE_MISSING = "attendance_missing"
    FAMILY_WITHOUT_QF = "family_without_qf"
    ZERO_TOTAL = "zero_total"
    NEGATIVE_TOTAL = "negative_total"
    CATCH_UP = "catch_up"
    UNKNOWN_FAMILY = "unknown_family"
    UNKNOWN_PRESTATION = "unknown_prestation"


@dataclass(frozen=True, slots=True)
class RunWarning:
    code: WarningCode
    family_id: str
    message: str  # French, for the agent's review screen
    key: str | None = None


@dataclass(frozen=True, slots=True)
class RunStats:
    items: int = 0
    lines: int = 0
    already_invoiced: int = 0
    duplicates: int = 0
    later_months: int = 0
    not_recorded: int = 0


@dataclass(frozen=True)
class RunDraft:
    commune_id: str
    month: Month
    documents: tuple[DraftDocument, ...]
    warnings: tuple[RunWarning, ...]
    stats: RunStats
    invoiced_keys: frozenset[str] = field(repr=False)

    @property
    def invoices(self) -> tuple[DraftDocument, ...]:
        return tuple(d for d in self.documents if d.kind is DocumentKind.INVOICE)

    @property
    def credit_notes(self) -> tuple[DraftDocument, ...]:
        return tuple(d for d in self.documents if d.kind is DocumentKind.CREDIT_NOTE)

    @property
    def invoiced_total_cents(self) -> int:
        return sum(d.total_cents for d in self.invoices)

    @property
    def credit_notes_total_cents(self) -> int:
        return sum(d.credit_cents for d in self.credit_notes)


# --- the run ------------------------------------------------------------------------------------

def line_label(child_name: str, prestation_label: str, day: date, reason: Reason | None) -> str:
    """'Léa — Repas — mardi 15 septembre 2026 (absence non justifiée)': readable on paper."""
    label = f"{child_name} — {prestation_label} — {long_date(day)}"
    if reason is not None and reason is not Reason.PRESENT:
        label += f" ({REASON_LABELS[reason]})"
    return label


def price_line(item: DayItem, prestation: Prestation, qf: int | None, reason: Reason) -> Line:
    unit_price = prestation.grid.price_for(qf)
    return Line(item.key, item.child_id, item.child_name, prestation.id, prestation.label, item.day, reason,
                unit_price, prestation.rules.rule_for(reason).amount(unit_price),
                line_label(item.child_name, prestation.label, item.day, reason))


def adjustment_line(adjustment: Adjustment) -> Line:
    return Line(adjustment.key, "", adjustment.child_name, None, adjustment.label, adjustment.day, None,
                adjustment.amount_cents, adjustment.amount_cents, adjustment.label)


def _line_order(line: Line):
    return (line.prestation_id is None, line.child_name, line.child_id, line.prestation_label, line.day, line.key)


def draft_run(commune_id: str, month: Month, families: Mapping[str, Family], prestations: Mapping[str, Prestation],
              items: Iterable[DayItem], *, adjustments: Iterable[Adjustment] = (),
              already_invoiced: frozenset[str] | set[str] = frozenset(), open_credits: Iterable[OpenCredit] = (),
              options: RunOptions = RunOptions()) -> RunDraft:
    """Compute the run's documents and warnings. Linear in the number of items; deterministic."""
    seen: set[str] = set()
    lines_by_family: dict[str, list[Line]] = defaultdict(list)
    warnings: list[RunWarning] = []
    counts = dict.fromkeys(("items", "already_invoiced", "duplicates", "later_months", "not_recorded"), 0)
    first_day, last_day = month.first_day, month.last_day

    def skip(key: str) -> bool:
        if key in already_invoiced:
            counts["already_invoiced"] += 1
            return True
        if key in seen:
            counts["duplicates"] += 1
            return True
        return False

    for item in items:
        counts["items"] += 1
        if item.day > last_day:
            counts["later_months"] += 1
            continue
        if skip(item.key):
            continue
        family = families.get(item.family_id)
        if family is None or family.commune_id != commune_id:
            warnings.append(RunWarning(WarningCode.UNKNOWN_FAMILY, item.family_id,
                                       f"Famille inconnue dans cette commune pour {item.child_name} "
                                       f"le {long_date(item.day)} : non facturé.", item.key))
            continue
        prestation = prestations.get(item.prestation_id)
        if prestation is None:
            warnings.append(RunWarning(WarningCode.UNKNOWN_PRESTATION, family.id,
                                       f"Prestation inconnue ({item.prestation_id}) pour {item.child_name} "
                                       f"le {long_date(item.day)} : non facturé.", item.key))
            continue
        reason = item.reason
        if reason is None:
            if not options.unrecorded_as_present:
                counts["not_recorded"] += 1
                warnings.append(_day_warning(WarningCode.ATTENDANCE_MISSING, item, prestation,
                                             "Présence non pointée", "Non facturé dans ce cycle."))
                continue
            warnings.append(_day_warning(WarningCode.ATTENDANCE_MISSING, item, prestation,
                                         "Présence non pointée", "Facturé comme réservé."))
            reason = Reason.PRESENT
        if item.day < first_day:
            warnings.append(_day_warning(WarningCode.CATCH_UP, item, prestation, "Rattrapage d'un mois antérieur"))
        seen.add(item.key)
        lines_by_family[family.id].append(price_line(item, prestation, family.qf, reason))

    for adjustment in adjustments:
        if adjustment.day > last_day or skip(adjustment.key):
            continue
        family = families.get(adjustment.family_id)
        if family is None or family.commune_id != commune_id:
            warnings.append(RunWarning(WarningCode.UNKNOWN_FAMILY, adjustment.family_id,
                                       f"Famille inconnue dans cette commune pour « {adjustment.label} » : "
                                       f"non facturé.", adjustment.key))
            continue
        seen.add(adjustment.key)
        lines_by_family[family.id].append(adjustment_line(adjustment))

    credits_by_family = _open_credits_by_family(commune_id, open_credits)
    documents = []
    invoiced_keys: set[str] = set()
    ordered = sorted(lines_by_family, key=lambda fid: (families[fid].name, fid))
    for family_id in ordered:
        family = families[family_id]
        lines = sorted(lines_by_family[family_id], key=_line_order)
        invoiced_keys.update(line.key for line in lines)
        if family.qf is None:
            warnings.append(RunWarning(WarningCode.FAMILY_WITHOUT_QF, family_id,
                                       f"Famille {family.name} : pas de quotient familial, "
                                       f"tranche la plus haute appliquée."))
        document = _document(family, commune_id, month, lines, credits_by_family.get(family_id, []))
        if document is None:
            warnings.append(RunWarning(WarningCode.ZERO_TOTAL, family_id,
                                       f"Famille {family.name} : total nul, aucune facture émise."))
            continue
        if document.kind is DocumentKind.CREDIT_NOTE:
            warnings.append(RunWarning(WarningCode.NEGATIVE_TOTAL, family_id,
                                       f"Famille {family.name} : total négatif, un avoir de "
                                       f"{format_euros(document.credit_cents)} sera émis."))
        documents.append(document)

    codes = list(WarningCode)
    warnings.sort(key=lambda w: (families[w.family_id].name if w.family_id in families else "", w.family_id,
                                 codes.index(w.code), w.key or ""))
    stats = RunStats(lines=sum(len(d.lines) for d in documents), **counts)
    return RunDraft(commune_id, month, tuple(documents), tuple(warnings), stats, frozenset(invoiced_keys))


def _day_warning(code: WarningCode, item: DayItem, prestation: Prestation, what: str, outcome: str = "") -> RunWarning:
    text = f"{what} : {item.child_name}, {prestation.label}, {long_date(item.day)}."
    return RunWarning(code, item.family_id, f"{text} {outcome}".rstrip(), item.key)


def _open_credits_by_family(commune_id: str, open_credits: Iterable[OpenCredit]) -> dict[str, list[OpenCredit]]:
    by_family: dict[str, list[OpenCredit]] = defaultdict(list)
    for credit in open_credits:
        if credit.commune_id == commune_id and credit.remaining_cents > 0:
            by_family[credit.family_id].append(credit)
    return by_family


def apply_credits(amount_cents: int, credits: Iterable[OpenCredit]) -> tuple[CreditUse, ...]:
    """Use the given credits, oldest first (issue date, then id), up to `amount_cents`."""
    uses = []
    left = amount_cents
    for credit in sorted(credits, key=lambda c: (c.issued_on, c.id)):
        if left <= 0:
            break
        used = min(left, credit.remaining_cents)
        if used > 0:
            uses.append(CreditUse(credit.id, used))
            left -= used
    return tuple(uses)


def _document(family: Family, commune_id: str, month: Month, lines: list[Line], credits: list[OpenCredit],
              corrects: str | None = None) -> DraftDocument | None:
    total = sum(line.amount_cents for line in lines)
    if total == 0:
        return None
    if total < 0:
        return DraftDocument(DocumentKind.CREDIT_NOTE, family.id, commune_id, month, tuple(lines), total,
                             corrects=corrects)
    return DraftDocument(DocumentKind.INVOICE, family.id, commune_id, month, tuple(lines), total,
                         apply_credits(total, credits), corrects)


# --- corrective runs ----------------------------------------------------------------------------

def draft_correction(document_id: str, family: Family, commune_id: str, month: Month, invoiced_lines: Iterable[Line],
                     corrected_items: Iterable[DayItem], prestations: Mapping[str, Prestation], *,
                     open_credits: Iterable[OpenCredit] = ()) -> DraftDocument | None:
    """Difference between what was invoiced and what should have been, for the corrected days.

    `corrected_items` are the new truth for their keys (another reason, or the family's QF as it
    should have been applied); other invoiced lines stand. Each changed day gives one line
    "Régularisation" worth new − old. A positive net is a complementary invoice (open credits
    applied), a negative net a credit note, a zero net issues nothing (None).
    """
    invoiced = {line.key: line for line in invoiced_lines}
    delta_lines = []
    for item in corrected_items:
        before = invoiced.get(item.key)
        if before is None:
            raise ValueError(f"La ligne {item.key} n'est pas sur la facture corrigée.")
        if item.reason is None:
            raise ValueError(f"La correction de la ligne {item.key} doit indiquer la présence ou l'absence.")
        prestation = prestations[item.prestation_id]
        after = price_line(item, prestation, family.qf, item.reason)
        delta = after.amount_cents - before.amount_cents
        if delta:
            delta_lines.append(Line(
                item.key, item.child_id, item.child_name, prestation.id, prestation.label, item.day, after.reason,
                after.unit_price_cents, delta,
                f"Régularisation — {after.label} : facturé {format_euros(before.amount_cents)}, "
                f"dû {format_euros(after.amount_cents)}"))
    delta_lines.sort(key=_line_order)
    credits = _open_credits_by_family(commune_id, open_credits).get(family.id, [])
    return _document(family, commune_id, month, delta_lines, credits, corrects=document_id)
