"""`python -m billing seed-demo`: Heillecourt's billing set-up for the demo (refused in production).

Price grids for the demo catalogue's price references (booking.domain.demo_catalogue: canteen,
morning and evening care, Wednesday and holiday leisure centres) by QF bracket, the demo family's
QF, and the demo family and children (identity's fixed ids, also announced later by identity's
events, which find the same rows) so that a fresh `make run` can price carts at once.
Idempotent: what exists is left as it is.
"""
from __future__ import annotations

import datetime as dt
import sys
import uuid

from servicekit.types import utcnow

from billing.config import insert_for
from billing.db import get_db
from billing.models import children, families, family_accounts, price_grids
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
    insert = insert_for(session)
    for ref, label, service_label, childcare, prices in GRIDS:
        session.execute(insert(price_grids).values(
            id=str(uuid.uuid5(NAMESPACE, f"{COMMUNE}:{ref}")), commune=COMMUNE, price_ref=ref, label=label,
            service_label=service_label, childcare=childcare, charge_rules=None, updated_at=now,
            brackets=[{"upper_qf": upper, "price_cents": prices[index]} for upper, index in BRACKETS],
        ).on_conflict_do_nothing())
    session.execute(insert(families).values(family_id=DEMO_FAMILY_ID, commune=COMMUNE, family_name="Martin",
                                            status="active", updated_at=now).on_conflict_do_nothing())
    for child_id, name, birth in DEMO_CHILDREN:
        session.execute(insert(children).values(child_id=child_id, family_id=DEMO_FAMILY_ID, given_name=name,
                                                family_name="Martin", birth_date=birth,
                                                changed_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
                        .on_conflict_do_nothing())
    session.execute(insert(family_accounts).values(commune=COMMUNE, family_id=DEMO_FAMILY_ID, qf=DEMO_QF,
                                                   qf_source="agent", qf_set_by="seed-demo", direct_debit=False,
                                                   updated_at=now).on_conflict_do_nothing())


def _run(_args) -> int:
    if get_settings().is_production:
        print("seed-demo refuses to run when EF_ENV=production", file=sys.stderr)
        return 2
    with get_db().transaction() as session:
        seed(session)
    print(f"billing: demo price grids and QF for {COMMUNE}")
    return 0


COMMANDS = {"seed-demo": ("demo price grids and the demo family's QF (not in production)", lambda _p: None, _run)}
