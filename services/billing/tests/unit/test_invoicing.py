"""The monthly invoicing run as a pure computation: documents, lines, warnings, credits, corrections."""
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.calendar import Month
from billing.domain.invoicing import (Adjustment, DayItem, DocumentKind, Family, OpenCredit, Prestation, RunOptions,
                                      WarningCode, apply_credits, draft_correction, draft_run)
from billing.domain.pricing import ChargeRule, PriceGrid, Reason, RuleSet

SEPT = Month(2026, 9)
COMMUNE = "c1"
MEAL = Prestation("meal", "Repas", PriceGrid.of((600, 150), (None, 400)))
CARE = Prestation("care", "Accueil du soir", PriceGrid.flat(210),
                  RuleSet({Reason.ABSENT_UNJUSTIFIED: ChargeRule.fixed(100)}))
PRESTATIONS = {p.id: p for p in (MEAL, CARE)}
MARTIN = Family("f1", COMMUNE, "Martin", 500)
DURAND = Family("f2", COMMUNE, "Durand", None)
OTHER_TOWN = Family("f3", "c2", "Petit", 500)
FAMILIES = {f.id: f for f in (MARTIN, DURAND, OTHER_TOWN)}


def day_item(key, family=MARTIN, child="Léa", prestation=MEAL, day=date(2026, 9, 15), reason=Reason.PRESENT):
    return DayItem(key, family.id, f"{family.id}-{child}", child, prestation.id, day, reason)


def run(items, **kwargs):
    return draft_run(COMMUNE, SEPT, FAMILIES, PRESTATIONS, items, **kwargs)


def warnings_of(draft, code):
    return [w for w in draft.warnings if w.code is code]


def test_one_invoice_per_family_with_a_readable_line_per_child_prestation_and_date():
    draft = run([
        day_item("b1"), day_item("b2", day=date(2026, 9, 1)), day_item("b3", child="Tom", prestation=CARE),
        day_item("b4", family=DURAND, reason=Reason.ABSENT_UNJUSTIFIED, prestation=CARE),
    ])
    assert [d.family_id for d in draft.invoices] == ["f2", "f1"]  # sorted by family name
    martin = draft.invoices[1]
    assert [line.label for line in martin.lines] == [
        "Léa — Repas — mardi 1er septembre 2026",
        "Léa — Repas — mardi 15 septembre 2026",
        "Tom — Accueil du soir — mardi 15 septembre 2026",
    ]
    assert martin.total_cents == 150 + 150 + 210 == martin.amount_due_cents
    durand = draft.invoices[0]
    assert durand.lines[0].label == "Léa — Accueil du soir — mardi 15 septembre 2026 (absence non justifiée)"
    assert durand.total_cents == 100
    assert draft.invoiced_total_cents == 610
    assert draft.invoiced_keys == {"b1", "b2", "b3", "b4"}


def test_the_family_qf_selects_the_bracket_and_no_qf_means_the_highest_with_a_warning():
    draft = run([day_item("b1"), day_item("b2", family=DURAND)])
    assert {d.family_id: d.total_cents for d in draft.invoices} == {"f1": 150, "f2": 400}
    [warning] = warnings_of(draft, WarningCode.FAMILY_WITHOUT_QF)
    assert warning.family_id == "f2" and "Durand" in warning.message


def test_running_again_with_the_invoiced_keys_adds_nothing():
    items = [day_item("b1"), day_item("b2", child="Tom"), day_item("b3", family=DURAND)]
    first = run(items)
    second = run(items, already_invoiced=first.invoiced_keys)
    assert second.documents == () and second.stats.already_invoiced == 3


def test_the_same_booking_twice_in_the_input_is_invoiced_once():
    draft = run([day_item("b1"), day_item("b1")])
    assert len(draft.invoices[0].lines) == 1 and draft.stats.duplicates == 1


def test_a_booking_without_attendance_is_not_invoiced_but_warned_and_comes_back_next_run():
    items = [day_item("b1"), day_item("b2", reason=None, day=date(2026, 9, 22))]
    draft = run(items)
    assert [line.key for line in draft.invoices[0].lines] == ["b1"]
    [warning] = warnings_of(draft, WarningCode.ATTENDANCE_MISSING)
    assert warning.key == "b2" and "Présence non pointée" in warning.message
    assert "b2" not in draft.invoiced_keys
    recorded = [day_item("b2", day=date(2026, 9, 22))]
    later = draft_run(COMMUNE, SEPT.plus(1), FAMILIES, PRESTATIONS, recorded, already_invoiced=draft.invoiced_keys)
    assert [line.key for line in later.invoices[0].lines] == ["b2"]
    assert warnings_of(later, WarningCode.CATCH_UP)[0].key == "b2"


def test_a_run_can_charge_unrecorded_bookings_as_booked_still_with_a_warning():
    draft = run([day_item("b1", reason=None)], options=RunOptions(unrecorded_as_present=True))
    assert draft.invoices[0].total_cents == 150
    assert "Facturé comme réservé" in warnings_of(draft, WarningCode.ATTENDANCE_MISSING)[0].message


def test_days_after_the_month_wait_for_their_own_run():
    draft = run([day_item("b1", day=date(2026, 10, 1))])
    assert draft.documents == () and draft.stats.later_months == 1 and not draft.invoiced_keys


def test_families_of_another_commune_or_unknown_are_never_invoiced_here_but_warned():
    draft = run([day_item("b1", family=OTHER_TOWN), DayItem("b2", "ghost", "x", "Zoé", "meal", date(2026, 9, 2),
                                                            Reason.PRESENT)])
    assert draft.documents == ()
    assert {w.key for w in warnings_of(draft, WarningCode.UNKNOWN_FAMILY)} == {"b1", "b2"}


def test_an_unknown_prestation_is_warned_not_invoiced():
    draft = run([DayItem("b1", "f1", "c", "Léa", "pool", date(2026, 9, 2), Reason.PRESENT)])
    assert draft.documents == () and warnings_of(draft, WarningCode.UNKNOWN_PRESTATION)[0].key == "b1"


def test_a_zero_total_issues_nothing_but_a_warning_and_its_days_count_as_assessed():
    draft = run([day_item("b1", reason=Reason.ABSENT_JUSTIFIED)])
    assert draft.documents == ()
    assert warnings_of(draft, WarningCode.ZERO_TOTAL)[0].family_id == "f1"
    assert draft.invoiced_keys == {"b1"}


def test_a_negative_total_becomes_a_credit_note():
    refund = Adjustment("adj1", "f1", "Remboursement annulation acceptée", -900, date(2026, 9, 10), "Léa")
    draft = run([day_item("b1")], adjustments=[refund])
    [note] = draft.credit_notes
    assert note.kind is DocumentKind.CREDIT_NOTE and note.total_cents == -750
    assert note.credit_cents == 750 and note.amount_due_cents == 0
    assert note.lines[-1].label == "Remboursement annulation acceptée"  # adjustments after the days
    assert "7,50" in warnings_of(draft, WarningCode.NEGATIVE_TOTAL)[0].message
    assert draft.credit_notes_total_cents == 750
    assert run([day_item("b1")], adjustments=[refund], already_invoiced=draft.invoiced_keys).documents == ()


def test_open_credits_are_applied_oldest_first_and_only_from_the_same_family_and_commune():
    credits = [
        OpenCredit("A-new", "f1", COMMUNE, date(2026, 8, 5), 500),
        OpenCredit("A-old", "f1", COMMUNE, date(2026, 6, 5), 100),
        OpenCredit("A-elsewhere", "f1", "c2", date(2026, 1, 5), 9_999),
        OpenCredit("A-durand", "f2", COMMUNE, date(2026, 1, 5), 9_999),
        OpenCredit("A-spent", "f1", COMMUNE, date(2026, 1, 5), 0),
    ]
    draft = run([day_item(f"b{i}", day=date(2026, 9, i)) for i in range(1, 4)], open_credits=credits)
    [invoice] = draft.invoices
    assert invoice.total_cents == 450
    assert [(u.credit_id, u.amount_cents) for u in invoice.credit_uses] == [("A-old", 100), ("A-new", 350)]
    assert invoice.amount_due_cents == 0


def test_credits_never_exceed_the_invoice():
    uses = apply_credits(300, [OpenCredit("a", "f", "c", date(2026, 1, 1), 1_000)])
    assert [(u.credit_id, u.amount_cents) for u in uses] == [("a", 300)]


def test_a_correction_that_lowers_a_charge_issues_a_credit_note_of_the_difference():
    original = run([day_item("b1"), day_item("b2", day=date(2026, 9, 16))]).invoices[0]
    fixed = day_item("b2", day=date(2026, 9, 16), reason=Reason.ABSENT_JUSTIFIED)
    note = draft_correction("F-2026-09-0000001", MARTIN, COMMUNE, SEPT, original.lines, [fixed], PRESTATIONS)
    assert note.kind is DocumentKind.CREDIT_NOTE and note.credit_cents == 150 and note.corrects == "F-2026-09-0000001"
    [line] = note.lines
    assert line.amount_cents == -150
    assert line.label.startswith("Régularisation — Léa — Repas — mercredi 16 septembre 2026 (absence justifiée)")
    assert "facturé 1,50\u00a0€, dû 0,00\u00a0€" in line.label


def test_a_correction_that_raises_a_charge_issues_a_complementary_invoice_with_credits_applied():
    original = run([day_item("b1", family=DURAND, prestation=CARE, reason=Reason.ABSENT_JUSTIFIED),
                    day_item("b2", family=DURAND)]).invoices[0]
    unjustified = day_item("b1", family=DURAND, prestation=CARE, reason=Reason.ABSENT_UNJUSTIFIED)
    credits = [OpenCredit("A-1", "f2", COMMUNE, date(2026, 9, 1), 30)]
    extra = draft_correction("F-1", DURAND, COMMUNE, SEPT, original.lines, [unjustified], PRESTATIONS,
                             open_credits=credits)
    assert extra.kind is DocumentKind.INVOICE and extra.total_cents == 100 and extra.amount_due_cents == 70


def test_a_correction_that_changes_nothing_issues_nothing_and_unknown_lines_are_refused():
    original = run([day_item("b1")]).invoices[0]
    assert draft_correction("F-1", MARTIN, COMMUNE, SEPT, original.lines, [day_item("b1")], PRESTATIONS) is None
    with pytest.raises(ValueError, match="n'est pas sur la facture"):
        draft_correction("F-1", MARTIN, COMMUNE, SEPT, original.lines, [day_item("zz")], PRESTATIONS)
    with pytest.raises(ValueError, match="doit indiquer la présence"):
        draft_correction("F-1", MARTIN, COMMUNE, SEPT, original.lines, [day_item("b1", reason=None)], PRESTATIONS)


def test_the_same_input_in_another_order_gives_the_same_draft():
    items = [day_item(f"b{i}", family=(MARTIN, DURAND)[i % 2], child=("Léa", "Tom")[i % 3 == 0],
                      day=date(2026, 9, 1) + timedelta(days=i % 30)) for i in range(60)]
    items += [day_item("u1", reason=None), day_item("u2", family=DURAND, reason=None), day_item("x", family=OTHER_TOWN)]
    forward, backward = run(items), run(list(reversed(items)))
    assert forward.documents == backward.documents and forward.warnings == backward.warnings
    assert [w.family_id for w in forward.warnings][:2] == ["f2", "f2"]  # Durand first, as the documents


# --- properties ---------------------------------------------------------------------------------

families_st = st.sampled_from([MARTIN, DURAND, OTHER_TOWN])
items_st = st.lists(st.builds(
    lambda key, family, child, prestation, offset, reason: day_item(
        f"b{key}", family=family, child=child, prestation=prestation, day=date(2026, 8, 20) + timedelta(days=offset),
        reason=reason),
    st.integers(0, 80), families_st, st.sampled_from(["Léa", "Tom"]), st.sampled_from([MEAL, CARE]),
    st.integers(0, 50), st.none() | st.sampled_from(list(Reason))), max_size=60)


@settings(max_examples=150, deadline=None)
@given(items_st, st.lists(st.integers(-500, 500), max_size=3))
def test_totals_are_the_sum_of_lines_and_a_second_run_adds_no_line(items, adjustment_amounts):
    adjustments = [Adjustment(f"a{i}", "f1", "Ajustement", amount, date(2026, 9, 3))
                   for i, amount in enumerate(adjustment_amounts)]
    first = run(items, adjustments=adjustments)
    for document in first.documents:
        assert document.total_cents == sum(line.amount_cents for line in document.lines) != 0
        assert (document.total_cents < 0) == (document.kind is DocumentKind.CREDIT_NOTE)
    keys = [line.key for document in first.documents for line in document.lines]
    assert len(keys) == len(set(keys))
    assert first.invoiced_keys >= set(keys)
    again = run(items, adjustments=adjustments, already_invoiced=first.invoiced_keys)
    assert again.documents == ()


@settings(max_examples=150, deadline=None)
@given(items_st)
def test_every_booking_of_the_month_or_before_is_either_invoiced_or_warned(items):
    draft = run(items)
    warned = {w.key for w in draft.warnings if w.key}
    for item in items:
        if item.day <= SEPT.last_day:
            assert item.key in draft.invoiced_keys or item.key in warned


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 5_000), st.lists(st.integers(0, 2_000), max_size=6))
def test_credits_used_never_exceed_the_amount_nor_any_credit(amount, remainders):
    credits = [OpenCredit(f"a{i}", "f", "c", date(2026, 1, 1 + i), r) for i, r in enumerate(remainders)]
    uses = apply_credits(amount, credits)
    assert sum(u.amount_cents for u in uses) == min(amount, sum(remainders))
    by_id = {c.id: c.remaining_cents for c in credits}
    assert all(0 < u.amount_cents <= by_id[u.credit_id] for u in uses)


def test_reasons_given_as_stored_strings_are_read_as_reasons_and_unknown_ones_refused():
    item = DayItem("b1", "f1", "c", "Léa", "meal", date(2026, 9, 15), "present")
    assert item.reason is Reason.PRESENT
    assert run([item]).invoices[0].lines[0].label == "Léa — Repas — mardi 15 septembre 2026"
    with pytest.raises(ValueError):
        DayItem("b1", "f1", "c", "Léa", "meal", date(2026, 9, 15), "sick")
