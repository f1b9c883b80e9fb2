"""What one booked and attended day of each prestation costs a family: the price the parents'
calendar shows beside each bookable date (issue 8).

The same rules as the invoicing run (billing.domain.pricing): the grid of the prestation's price
reference in the commune, the family's bracket by its quotient familial (the highest bracket
without a QF), then the "present" charge rule (the commune's, overridden by the grid's).
A reference without a grid in the commune is simply absent from the answer: the calendar then
shows no price rather than a wrong one.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from billing import config
from billing.domain.pricing import Reason, RuleSet, line_amount
from billing.models import family_accounts, price_grids

MAX_REFS = 100


def _family_qf(session: Session, commune: str, family_id: str) -> int | None:
    return session.execute(sa.select(family_accounts.c.qf).where(
        family_accounts.c.commune == commune, family_accounts.c.family_id == family_id)).scalar()


def family_prices(session: Session, commune: str, family_id: str, price_refs: Iterable[str] | None = None) -> dict:
    """The family's price per price reference of the commune (all its grids when none is asked)."""
    query = sa.select(price_grids).where(price_grids.c.commune == commune).order_by(price_grids.c.price_ref)
    wanted = sorted(set(price_refs or ()))
    if wanted:
        query = query.where(price_grids.c.price_ref.in_(wanted))
    qf = _family_qf(session, commune, family_id)
    commune_rules = config.commune_rules(config.load_settings(session, commune))
    prices = [_price(grid, qf, commune_rules) for grid in session.execute(query).mappings()]
    return {"commune": commune, "qf_known": qf is not None, "prices": prices}


def _price(grid: Mapping, qf: int | None, commune_rules: RuleSet) -> dict:
    rules = RuleSet({**commune_rules.overrides, **config.rules_from_json(grid["charge_rules"]).overrides})
    return {"price_ref": grid["price_ref"], "label": grid["label"],
            "price_cents": line_amount(config.grid_from_json(grid["brackets"]), qf, Reason.PRESENT, rules)}
