"""A month of realistic data through the pure invoicing run: totals, numbering, a run resumed halfway."""
import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from billing.domain.calendar import Month
from billing.domain.invoicing import DayItem, DocumentKind, Family, OpenCredit, Prestation, draft_run
from billing.domain.numbering import audit_series, number_in_sequence
from billing.domain.pricing import ChargeRule, PriceGrid, Reason, RuleSet, line_amount

MONTH = Month(2026, 9)
COMMUNE = "c1"
PRESTATIONS = {p.id: p for p in (
    Prestation("meal", "Repas", PriceGrid.of((400, 90), (700, 230), (1_100, 360), (None, 480))),
    Prestation("evening", "Accueil du soir", PriceGrid.of((700, 150), (None, 260)),
               RuleSet({Reason.PRESENT_WITHOUT_BOOKING: ChargeRule.percent(100, plus_cents=200),
                        Reason.ABSENT_UNJUSTIFIED: ChargeRule.percent("50")})),
    Prestation("wednesday", "Mercredi journée", PriceGrid.of((700, 955), (None, 1_585))),
)}
REASONS = [Reason.PRESENT] * 40 + [r for r in Reason] + [None]


@pytest.fixture(scope="module")
def month_data():
    rng = random.Random(2026)
    families, items, credits = {}, [], []
    days = [day for day in (MONTH.first_day + timedelta(days=i) for i in range(30)) if day.weekday() < 5]
    for f in range(300):
        qf = rng.choice([None, *range(0, 2_000, 37)])
        family = Family(f"f{f:04d}", COMMUNE, f"Famille {rng.randint(0, 99):02d}", qf)
        families[family.id] = family
        for c in range(rng.randint(1, 3)):
            for n, day in enumerate(rng.sample(days, rng.randint(0, len(days)))):
                prestation = "wednesday" if day.weekday() == 2 else rng.choice(["meal", "evening"])
                items.append(DayItem(f"b-{f}-{c}-{n}", family.id, f"{family.id}-{c}", f"Enfant {c}", prestation, day,
                                     rng.choice(REASONS)))
        if rng.random() < 0.2:
            credits.append(OpenCredit(f"A-{f}", family.id, COMMUNE, date(2026, rng.randint(1, 8), 5),
                                      rng.randint(50, 5_000)))
    rng.shuffle(items)
    return families, items, credits


def test_document_totals_add_up_to_every_priced_day(month_data):
    families, items, credits = month_data
    draft = draft_run(COMMUNE, MONTH, families, PRESTATIONS, items, open_credits=credits)
    expected = sum(line_amount(PRESTATIONS[i.prestation_id].grid, families[i.family_id].qf, i.reason,
                               PRESTATIONS[i.prestation_id].rules) for i in items if i.reason is not None)
    assert draft.invoiced_total_cents == expected
    assert sum(d.amount_due_cents + d.credited_cents for d in draft.invoices) == expected
    assert draft.stats.not_recorded == sum(1 for i in items if i.reason is None)
    assert len(draft.invoiced_keys) == sum(1 for i in items if i.reason is not None)  # zero totals included
    available = {c.id: c.remaining_cents for c in credits}
    for document in draft.invoices:
        for use in document.credit_uses:
            available[use.credit_id] -= use.amount_cents
    assert min(available.values()) >= 0


def test_the_month_is_numbered_without_gaps_in_each_series(month_data):
    families, items, credits = month_data
    draft = draft_run(COMMUNE, MONTH, families, PRESTATIONS, items, open_credits=credits)
    numbers, last = number_in_sequence([(d.kind.series, d.month) for d in draft.documents], {})
    assert all(audit.ok for audit in audit_series(numbers).values())
    assert sum(str(n).startswith("F-2026-09-") for n in numbers) == len(draft.invoices)
    assert sorted(last.values()) == sorted(c for c in (len(draft.invoices), len(draft.credit_notes)) if c)


def test_a_run_stopped_halfway_and_run_again_gives_the_documents_of_a_clean_run(month_data):
    families, items, credits = month_data
    clean = draft_run(COMMUNE, MONTH, families, PRESTATIONS, items, open_credits=credits)
    committed = clean.documents[: len(clean.documents) // 2]  # what was finalised before the process died
    used = {}
    for document in committed:
        for use in document.credit_uses:
            used[use.credit_id] = used.get(use.credit_id, 0) + use.amount_cents
    credits_left = [replace(c, remaining_cents=c.remaining_cents - used.get(c.id, 0)) for c in credits]
    keys_done = frozenset(line.key for document in committed for line in document.lines)
    resumed = draft_run(COMMUNE, MONTH, families, PRESTATIONS, items, already_invoiced=keys_done,
                        open_credits=credits_left)
    assert committed + resumed.documents == clean.documents
    assert all(d.kind in (DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE) for d in resumed.documents)
