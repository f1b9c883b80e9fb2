"""`python -m billing seed-demo`: Heillecourt's billing set-up for the demo (refused in production).

Price grids for the demo catalogue's price references (booking.domain.demo_catalogue: canteen,
morning and evening care, Wednesday and holiday leisure centres) by QF bracket, the demo family's
QF, and the demo family and children (identity's fixed ids, also announced later by identity's
events, which find the same rows) so that a fresh `make run` can price carts at once.
Idempotent: what exists is left as it is.

`--with-history` (what `make run` does, unless EF_DEMO_HISTORY=0): the demo family's past too,
the same facts booking's `seed-demo --with-history` books and marks (`contracts.demo`), written by
the projection's own code as booking's events write them (`booked_days`: same day keys, booking ids
and moments, so that those events, arriving later, change nothing; a fact booking already sent
that is newer stays); then each past month invoiced with the real use
cases (`runs.start_run` then `runs.finalise_run`: numbers, dates, `period.locked.v1` to booking;
the commune's settings publish on the 1st of the next month, so that last month's invoice is out)
and every month but the last paid at the régie (`cashdesk.record_offline`: a cheque, then direct
debits); last month's invoice is left to pay online. A month with a finalised run is left alone.
"""
from __future__ import annotations

import datetime as dt
import sys
import uuid
from types import SimpleNamespace

import sqlalchemy as sa
from contracts import demo as history
from servicekit.db import dialect_insert
from servicekit.types import utcnow

from billing import cashdesk, config, ledger, projections, runs
from billing.db import get_db
from billing.domain.dates import DayRule, InvoiceDateSettings
from billing.models import (billing_settings, children, families, family_accounts, invoices,
                            invoicing_runs, price_grids)
from billing.timeutil import paris_today
from billing.settings import get_settings

COMMUNE = "heillecourt"
NAMESPACE = uuid.UUID("0a3f5c1e-7b2d-4e6f-9a8b-1c2d3e4f5a6b")
DEMO_FAMILY_ID = "00000000-0000-4000-8000-00000000f001"
DEMO_CHILDREN = (("00000000-0000-4000-8000-00000000c001", "Léa", dt.date(2017, 3, 2)),
                 ("00000000-0000-4000-8000-00000000c002", "Hugo", dt.date(2020, 9, 14)))
DEMO_QF = 820
BRACKETS = ((450, 0), (800, 1), (1200, 2), (None, 3))  # QF upper bounds; price index
GRIDS = (  # price_ref, label, service label, childcare, price per bracket (cents)
    ("CANTINE-REPAS", "Repas", "Restauration scolaire", False, (120, 280, 390, 480)),
    ("PERI-MATIN", "Accueil du matin", "Périscolaire", True, (80, 150, 210, 260)),
    ("PERI-SOIR", "Accueil du soir", "Périscolaire", True, (110, 210, 290, 360)),
    ("ALSH-MERCREDI-JOURNEE", "Mercredi journée", "Accueil de loisirs", True, (450, 900, 1300, 1650)),
    ("ALSH-MERCREDI-DEMI", "Mercredi demi-journée", "Accueil de loisirs", True, (250, 500, 700, 900)),
    ("ALSH-VACANCES-JOURNEE", "Vacances journée", "Accueil de loisirs", True, (500, 1000, 1400, 1800)),
)


def seed(session) -> None:
    now = utcnow()
    for ref, label, service_label, childcare, prices in GRIDS:
        session.execute(dialect_insert(session, price_grids).values(
            id=str(uuid.uuid5(NAMESPACE, f"{COMMUNE}:{ref}")), commune=COMMUNE, price_ref=ref, label=label,
            service_label=service_label, childcare=childcare, charge_rules=None, updated_at=now,
            brackets=[{"upper_qf": upper, "price_cents": prices[index]} for upper, index in BRACKETS],
        ).on_conflict_do_nothing())
    session.execute(dialect_insert(session, families).values(
        family_id=DEMO_FAMILY_ID, commune=COMMUNE, family_name="Martin", status="active", updated_at=now,
    ).on_conflict_do_nothing())
    for child_id, name, birth in DEMO_CHILDREN:
        session.execute(dialect_insert(session, children).values(
            child_id=child_id, family_id=DEMO_FAMILY_ID, given_name=name, family_name="Martin", birth_date=birth,
            changed_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
        ).on_conflict_do_nothing())
    session.execute(dialect_insert(session, family_accounts).values(
        commune=COMMUNE, family_id=DEMO_FAMILY_ID, qf=DEMO_QF, qf_source="agent", qf_set_by="seed-demo",
        direct_debit=False, updated_at=now,
    ).on_conflict_do_nothing())


SEEDER = "seed-demo"
PAYMENTS = (("cheque", "Chèque n° 0004217"), ("direct_debit", "Prélèvement SEPA"))  # the first month, the others


def seed_history(session, today: dt.date | None = None) -> list[str]:
    """The demo family's past days and their invoices (see the module's docstring). Returns the
    months invoiced now."""
    today = today or paris_today()
    past = history.past_days(today)
    for day in past:  # what booking.confirmed.v1 then attendance.recorded.v1 write, by the projection's code
        fact = SimpleNamespace(commune=history.COMMUNE, family_id=history.FAMILY_ID, child_id=day.child_id,
                               prestation_id=day.prestation_id, price_ref=day.price_ref, payment_mode="end_of_month",
                               session_date=day.day)
        projections.record_booking(session, projections._slot(fact), day.booking_id, "confirmed", None, day.booked_at)
        projections.record_attendance(session, fact, day.status, True, day.marked_at)
    # the demo commune publishes on the 1st (not the default 5th): last month's invoice is out today
    dates = InvoiceDateSettings(publication=DayRule(1, 1))
    session.execute(dialect_insert(session, billing_settings).values(commune=history.COMMUNE, **{
        **config.DEFAULT_SETTINGS, "dates": config.dates_to_json(dates)}, updated_at=utcnow()).on_conflict_do_nothing())
    done = set(session.execute(sa.select(invoicing_runs.c.month).where(
        invoicing_runs.c.commune == history.COMMUNE, invoicing_runs.c.kind == "monthly",
        invoicing_runs.c.state == "finalised")).scalars())
    months = history.past_months(today)
    invoiced = []
    for month in months:
        if month in done:
            continue
        run = runs.start_run(session, history.COMMUNE, month, SEEDER)
        runs.finalise_run(session, history.COMMUNE, run["id"], SEEDER)
        invoiced.append(month)
    for n, month in enumerate(months[:-1]):  # paid at the régie; last month's is to pay online
        row = session.execute(sa.select(invoices).where(
            invoices.c.commune == history.COMMUNE, invoices.c.family_id == history.FAMILY_ID,
            invoices.c.kind == "invoice", invoices.c.origin == "monthly", invoices.c.month == month,
            invoices.c.state == "published")).mappings().first()
        if row is None or ledger.owed(row) <= 0:
            continue
        method, reference = PAYMENTS[min(n, 1)]
        cashdesk.record_offline(session, history.COMMUNE, {
            "family_id": history.FAMILY_ID, "method": method, "amount_cents": ledger.owed(row),
            "invoice_ids": [row["id"]], "reference": reference}, SEEDER)  # received today
    return invoiced


def _run(args) -> int:
    if get_settings().is_production:
        print("seed-demo refuses to run when EF_ENV=production", file=sys.stderr)
        return 2
    with get_db().transaction() as session:
        seed(session)
    print(f"billing: demo price grids and QF for {COMMUNE}")
    if args.with_history:
        with get_db().transaction() as session:
            months = seed_history(session)
        print(f"billing: the demo family's past days; invoiced now: {', '.join(months) or 'nothing'}")
    return 0


def _arguments(parser) -> None:
    parser.add_argument("--with-history", action="store_true",
                        help="also the demo family's past days, invoiced and paid but last month (contracts.demo)")


COMMANDS = {"seed-demo": ("demo price grids and the demo family's QF (not in production)", _arguments, _run)}
