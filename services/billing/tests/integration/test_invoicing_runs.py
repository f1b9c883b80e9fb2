"""Monthly invoicing runs through the API and the CLI, on a month of realistic data.

Totals are recomputed here from the grids and the attendance the test itself generated;
numbering is audited with the domain's audit_series; running twice never invoices a day twice;
a run killed halfway (a real process killed in the middle of storing its draft) and run again
gives exactly the documents of a clean run.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys

import pytest
import sqlalchemy as sa

from billing_testkit import make_world, outbox_events, past_month
from billing.domain.numbering import audit_series
from billing.models import invoice_lines, invoices, invoiced_days

GRIDS = {  # price_ref: (label, [(upper_qf, cents)])
    "REPAS": ("Repas", [(450, 120), (900, 355), (None, 480)]),
    "PERI-SOIR": ("Accueil du soir", [(450, 90), (None, 210)]),
}
PRICE = {ref: brackets for ref, (_, brackets) in GRIDS.items()}


def price_for(ref: str, qf):
    brackets = PRICE[ref]
    if qf is None:
        return brackets[-1][1]
    return next(cents for upper, cents in brackets if upper is None or qf <= upper)


def _setup(world):
    for ref, (label, brackets) in GRIDS.items():
        world.grid(ref, label, [{"upper_qf": u, "price_cents": c} for u, c in brackets],
                   childcare=ref.startswith("PERI"))
    # commune rule: an unjustified absence costs half the price plus 1,00 €
    response = world.client.put("/internal/agent/settings", json={
        "dates": {"publication": {"months_after": 1, "day": 1}, "displayed_deadline": {"months_after": 1, "day": 31},
                  "last_day_online": {"months_after": 1, "day": 31}, "due": {"months_after": 2, "day": 31}},
        "charge_rules": {"absent_unjustified": {"percent": "50", "fixed_cents": 100}}}, headers=world.headers)
    assert response.status_code == 200, response.text


def _realistic_month(world, families: int = 12, seed: int = 7):
    """Families with 1-2 children, canteen and evening care most weekdays, some absences and
    cancellations; returns what each family should owe, computed independently."""
    rng = random.Random(seed)
    month, weekdays = past_month()
    expected = {}
    people = []
    for index in range(families):
        qf = rng.choice([None, 300, 700, 1200])
        family = world.family(name=f"Famille {index:02d}", children=rng.choice([1, 2]), qf=qf)
        total = 0
        for child in family.children:
            for day in weekdays:
                for ref in ("REPAS", "PERI-SOIR"):
                    if rng.random() < 0.3:
                        continue
                    price = price_for(ref, qf)
                    roll = rng.random()
                    if roll < 0.75:
                        world.book(family, day, ref, child, attendance="present")
                        total += price
                    elif roll < 0.85:
                        world.book(family, day, ref, child, attendance="absent_justified")
                    elif roll < 0.93:
                        world.book(family, day, ref, child, attendance="absent_unjustified")
                        total += _half_up(price) + 100
                    else:
                        world.book(family, day, ref, child, attendance=None)
                        _cancel(world, family, child, day, ref)
        expected[family.family_id] = total
        people.append(family)
    return month, people, expected


def _half_up(cents: int) -> int:
    return (cents * 50 + 50) // 100


def _cancel(world, family, child, day, ref):
    from contracts import booking as booking_contract
    from servicekit.types import utcnow

    slot = world._slot(family, child, ref, day, "end_of_month")
    world.deliver(booking_contract.BookingCancelled(booking_id="bk-x", refund="not_invoiced", by="parent",
                                                    cancelled_at=utcnow(), **slot), "booking")


def _documents(db, commune):
    with db.read() as s:
        rows = s.execute(sa.select(invoices.c.family_id, invoices.c.kind, invoices.c.number, invoices.c.total_cents)
                         .where(invoices.c.commune == commune, invoices.c.state == "published")
                         .order_by(invoices.c.number)).all()
    return rows


def test_a_month_of_realistic_data_totals_numbering_and_rerun(world, client):
    _setup(world)
    month, people, expected = _realistic_month(world)
    draft = world.run(month, finalise=False)
    assert draft["state"] == "draft"
    assert draft["summary"]["invoiced_total_cents"] == sum(expected.values())
    # nothing is published or numbered before finalisation
    assert all(world.invoices(family) == [] for family in people)
    warnings = client.get(f"/internal/agent/runs/{draft['id']}/warnings", headers=world.headers).json()
    assert warnings["total"] == draft["summary"]["warnings"] > 0

    finalised = client.post(f"/internal/agent/runs/{draft['id']}/finalise", headers=world.headers)
    assert finalised.status_code == 200, finalised.text
    docs = _documents(world.db, world.commune)
    assert {d.family_id: d.total_cents for d in docs} == {k: v for k, v in expected.items() if v}
    numbers = [d.number for d in docs]
    assert all(n.startswith(f"F-{month}-") for n in numbers)
    assert all(audit.ok for audit in audit_series(numbers).values())
    assert sorted(int(n[-7:]) for n in numbers) == list(range(1, len(numbers) + 1))
    # lines: one per child, prestation and date, readable
    detail = client.get(f"/internal/agent/invoices/{world.invoices(people[0])[0]['id']}", headers=world.headers).json()
    assert sum(line["amount_cents"] for line in detail["lines"]) == detail["total_cents"]
    assert all(" — " in line["label"] for line in detail["lines"])
    # booking is told to lock the month
    locked = [e for e in outbox_events(world.db, "period.locked.v1") if e["commune"] == world.commune]
    assert locked and locked[0]["first"].startswith(month)

    # running the month again invoices nothing twice
    again = world.run(month)
    assert again["summary"]["invoices"] == 0 and again["summary"]["invoiced_total_cents"] == 0
    assert len(_documents(world.db, world.commune)) == len(docs)
    # a late attendance mark is picked up by the next run, once
    family = people[0]
    late_day = past_month()[1][-1]
    world.book(family, late_day, "REPAS", family.children[0], attendance="present")  # same key if already there
    with world.db.read() as s:
        claimed = s.execute(sa.select(sa.func.count()).select_from(invoiced_days)
                            .where(invoiced_days.c.commune == world.commune)).scalar()
        lines = s.execute(sa.select(sa.func.count()).select_from(invoice_lines).join(
            invoices, invoices.c.id == invoice_lines.c.invoice_id).where(invoices.c.commune == world.commune)).scalar()
    assert claimed >= lines


def test_a_stale_draft_cannot_claim_days_twice(world, client):
    _setup(world)
    family = world.family(qf=300)
    month, weekdays = past_month()
    for day in weekdays[:3]:
        world.book(family, day, "REPAS")
    first = world.run(month, finalise=False)
    # another draft replaces the first (one draft per commune): finalising the old one is refused
    second = world.run(month, finalise=False)
    stale = client.post(f"/internal/agent/runs/{first['id']}/finalise", headers=world.headers)
    assert stale.status_code == 409
    assert client.post(f"/internal/agent/runs/{second['id']}/finalise", headers=world.headers).status_code == 200
    assert len(world.invoices(family)) == 1


def test_unrecorded_attendance_is_warned_not_invoiced_then_caught_up(world, client):
    _setup(world)
    family = world.family(qf=300)
    month, weekdays = past_month()
    world.book(family, weekdays[0], "REPAS", attendance="present")
    world.book(family, weekdays[1], "REPAS", attendance=None)
    run = world.run(month)
    warnings = client.get(f"/internal/agent/runs/{run['id']}/warnings", params={"code": "attendance_missing"},
                          headers=world.headers).json()
    assert warnings["total"] == 1 and "non pointée" in warnings["items"][0]["message"].lower()
    [invoice] = world.invoices(family)
    assert invoice["total_cents"] == 120
    world.attend(family, weekdays[1], "present", "REPAS")
    rerun = world.run(month)
    assert rerun["summary"]["invoiced_total_cents"] == 120


def test_negative_correction_becomes_a_credit_applied_to_the_next_invoice(world, client):
    _setup(world)
    family = world.family(qf=700)
    month, weekdays = past_month(2)
    for day in weekdays[:4]:
        world.book(family, day, "REPAS")
    world.run(month)
    [invoice] = world.invoices(family)
    detail = client.get(f"/internal/agent/invoices/{invoice['id']}", headers=world.headers).json()
    key = detail["lines"][0]["day_key"]
    correction = client.post(f"/internal/agent/invoices/{invoice['id']}/corrections",
                             json={"lines": [{"day_key": key, "reason": "absent_justified"}]}, headers=world.headers)
    assert correction.status_code == 201, correction.text
    done = client.post(f"/internal/agent/runs/{correction.json()['id']}/finalise", headers=world.headers)
    assert done.status_code == 200, done.text
    [credit] = world.invoices(family, "credit")
    assert credit["number"].startswith("A-") and credit["total_cents"] == 355
    twice = client.post(f"/internal/agent/invoices/{invoice['id']}/corrections",
                        json={"lines": [{"day_key": key, "reason": "absent_justified"}]}, headers=world.headers)
    assert twice.status_code == 409
    next_month, next_days = past_month(1)
    world.book(family, next_days[0], "REPAS")
    world.book(family, next_days[1], "REPAS")
    world.run(next_month)
    newest = [i for i in world.invoices(family, "to_pay") if i["month"] == next_month][0]
    assert newest["total_cents"] == 710 and newest["credited_cents"] == 355 and newest["due_cents"] == 355
    assert world.invoices(family, "credit")[0]["remaining_credit_cents"] == 0


def test_an_agent_never_sees_another_communes_runs_or_invoices(db, world, client):
    _setup(world)
    family = world.family(qf=300)
    month, weekdays = past_month()
    world.book(family, weekdays[0], "REPAS")
    run = world.run(month)
    [invoice] = world.invoices(family)
    other = make_world(db, client)
    for path in (f"/internal/agent/runs/{run['id']}", f"/internal/agent/invoices/{invoice['id']}",
                 f"/internal/agent/invoices/{invoice['id']}/pdf", f"/internal/agent/runs/{run['id']}/warnings",
                 f"/internal/agent/families/{family.family_id}/account"):
        assert client.get(path, headers=other.headers).status_code == 404, path
    assert client.get("/internal/agent/invoices", headers=other.headers).json()["total"] == 0
    csv_text = client.get("/internal/agent/exports/invoices.csv", headers=other.headers).text
    assert invoice["number"] not in csv_text
    assert invoice["number"] in client.get("/internal/agent/exports/invoices.csv", headers=world.headers).text
    # a parent is not an agent
    assert client.get("/internal/agent/invoices", headers=family.headers).status_code == 403


@pytest.mark.parametrize("phase", ["draft", "finalise"])
def test_a_run_killed_halfway_and_run_again_gives_the_clean_runs_invoices(db_url, db, client, phase):
    """Two identical communes: one run cleanly (as the CLI runs it, in process), the other by the
    CLI killed (a real process, os._exit in the middle of storing its draft) then run again; same
    documents, same numbers, nothing extra."""
    from billing import runs

    clean, crashed = make_world(db, client), make_world(db, client)
    totals = {}
    for world in (clean, crashed):
        _setup(world)
        world.prestations = {"REPAS": "prest-same", "PERI-SOIR": "prest-same-soir"}
        month, people, expected = _realistic_month(world, families=5, seed=11)
        totals[world.commune] = expected
    with db.transaction() as s:
        draft = runs.start_run(s, clean.commune, month, "cli")
    with db.transaction() as s:
        runs.finalise_run(s, clean.commune, draft["id"], "cli")
    env = {**os.environ, "BILLING_DATABASE_URL": db_url, "EF_ENV": "test", "SERVICE_TOKEN_SECRET": "x" * 40}
    command = [sys.executable, "-m", "billing", "run-invoicing", "--month", month, "--finalise",
               "--commune", crashed.commune]
    killed = subprocess.run(command, env={**env, "BILLING_FAULT_KILL": phase}, capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == 137
    assert _documents(db, crashed.commune) == []
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Brouillon" in again.stderr  # the progress bar
    shape = lambda world: [(d.kind, d.number, d.total_cents) for d in _documents(db, world.commune)]  # noqa: E731
    assert shape(crashed) == shape(clean) and len(shape(clean)) == sum(1 for v in totals[clean.commune].values() if v)


def test_an_invoiced_day_cancelled_later_with_a_credit_gives_a_credit_note(world, client):
    _setup(world)
    family = world.family(qf=700)
    month, weekdays = past_month()
    for day in weekdays[:2]:
        world.book(family, day, "REPAS")
    world.run(month)
    world.cancel(family, weekdays[0], "credit")
    world.cancel(family, weekdays[0], "credit")  # the same decision told twice: one credit note
    [credit] = world.invoices(family, "credit")
    assert credit["total_cents"] == 355 and credit["origin"] == "cancellation"
    world.cancel(family, weekdays[3], "credit")  # not invoiced yet: the run will price it at 0
    assert len(world.invoices(family, "credit")) == 1


def test_families_hear_of_their_documents_once_on_their_publication_day(world, client, db):
    from billing import runs

    _setup(world)
    family = world.family(qf=700)
    month, weekdays = past_month()
    for day in weekdays[:2]:
        world.book(family, day, "REPAS")
    world.run(month)
    [invoice] = world.invoices(family)

    def announced():
        return [e for e in outbox_events(db, "invoice.published.v1") if e["family_id"] == family.family_id]
    assert announced() == []  # finalising does not announce: the worker's job does, on the day
    runs.announce_published(db, dt.date.fromisoformat(invoice["published_on"]) - dt.timedelta(days=1))
    assert announced() == []  # not before the publication day
    runs.announce_published(db)
    runs.announce_published(db)
    [event] = announced()
    assert event["invoice_id"] == invoice["id"] and event["number"] == invoice["number"]
    assert event["total_cents"] == 710 and event["period_first"] == f"{month}-01"
    world.cancel(family, weekdays[0], "credit")  # a credit note outside a run is announced at once
    [credit] = [e for e in outbox_events(db, "credit.issued.v1") if e["family_id"] == family.family_id]
    assert credit["amount_cents"] == 355 and credit["number"].startswith("A-") and "Annulation" in credit["reason"]
