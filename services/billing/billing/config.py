"""The commune's billing settings, price grids and families' QF: stored JSON <-> the domain's data.

Every write goes through the domain's constructors (InvoiceDateSettings, PriceGrid, RuleSet),
so what is stored is always valid; their French `detail` becomes a 422.
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.db import dialect_insert
from servicekit.problems import Problem
from servicekit.types import isoformat_utc, utcnow

from billing.domain.dates import DayRule, InvoiceDateSettings
from billing.domain.money import MoneyError, percent_to_basis_points
from billing.domain.pricing import Bracket, ChargeRule, PriceGrid, Reason, RuleSet
from billing.models import billing_settings, family_accounts, families, price_grids

DATE_FIELDS = ("publication", "displayed_deadline", "last_day_online", "due")
GRID_NOT_FOUND = "Cette grille de tarifs est introuvable."


# --- codecs -----------------------------------------------------------------------------------------
def dates_from_json(data: Mapping | None) -> InvoiceDateSettings:
    if not data:
        return InvoiceDateSettings()
    default = InvoiceDateSettings()
    rules = {name: DayRule(int(data[name]["months_after"]), int(data[name]["day"])) if name in data
             else getattr(default, name) for name in DATE_FIELDS}
    return InvoiceDateSettings(**rules)


def dates_to_json(dates: InvoiceDateSettings) -> dict:
    return {name: {"months_after": getattr(dates, name).months_after, "day": getattr(dates, name).day}
            for name in DATE_FIELDS}


def rule_from_json(data: Mapping) -> ChargeRule:
    return ChargeRule(percent_to_basis_points(str(data.get("percent", "0"))), int(data.get("fixed_cents", 0)))


def rule_to_json(rule: ChargeRule) -> dict:
    percent = f"{rule.basis_points / 100:.2f}".rstrip("0").rstrip(".")
    return {"percent": percent, "fixed_cents": rule.fixed_cents, "description": rule.describe()}


def rules_from_json(data: Mapping | None) -> RuleSet:
    overrides = {}
    for reason, rule in (data or {}).items():
        try:
            overrides[Reason(reason)] = rule_from_json(rule)
        except ValueError as exc:
            if isinstance(exc, MoneyError):
                raise
            raise MoneyError(f"Motif inconnu : {reason}.") from None
    return RuleSet(overrides)


def rules_to_json(rules: RuleSet, only_overrides: bool = False) -> dict:
    source = rules.overrides if only_overrides else rules.rules
    return {reason.value: rule_to_json(rule) for reason, rule in source.items()}


def grid_from_json(brackets: list[Mapping]) -> PriceGrid:
    return PriceGrid(tuple(Bracket(b.get("upper_qf"), int(b["price_cents"])) for b in brackets))


# --- commune settings -------------------------------------------------------------------------------
DEFAULT_SETTINGS = {"dates": dates_to_json(InvoiceDateSettings()), "charge_rules": {},
                    "unrecorded_as_present": False, "payment_min_cents": None, "payment_max_cents": None,
                    "schedule_day": None}


def load_settings(session: Session, commune: str) -> dict:
    row = session.execute(sa.select(billing_settings).where(billing_settings.c.commune == commune)).mappings().first()
    return dict(row) if row else {"commune": commune, **DEFAULT_SETTINGS, "updated_at": None}


def lock_settings(session: Session, commune: str) -> dict:
    """The commune's settings row, locked: runs of one commune are drafted and finalised one at a time."""
    session.execute(dialect_insert(session, billing_settings).values(commune=commune, **DEFAULT_SETTINGS,
                                                                 updated_at=utcnow())
                    .on_conflict_do_nothing())
    row = session.execute(sa.select(billing_settings).where(billing_settings.c.commune == commune)
                          .with_for_update()).mappings().one()
    return dict(row)


def settings_view(row: Mapping) -> dict:
    rules = rules_from_json(row["charge_rules"])
    return {"commune": row["commune"], "dates": dates_to_json(dates_from_json(row["dates"])),
            "charge_rules": rules_to_json(rules), "unrecorded_as_present": bool(row["unrecorded_as_present"]),
            "payment_min_cents": row["payment_min_cents"], "payment_max_cents": row["payment_max_cents"],
            "schedule_day": row["schedule_day"], "updated_at": isoformat_utc(row["updated_at"])}


def get_settings(session: Session, commune: str) -> dict:
    return settings_view(load_settings(session, commune))


def put_settings(session: Session, commune: str, body: Mapping) -> dict:
    dates = dates_from_json(body.get("dates"))
    rules = rules_from_json(body.get("charge_rules"))
    low, high = body.get("payment_min_cents"), body.get("payment_max_cents")
    if low is not None and high is not None and low > high:
        raise MoneyError("Le montant minimum du paiement en ligne dépasse le maximum.")
    values = {"dates": dates_to_json(dates), "charge_rules": rules_to_json(rules, only_overrides=True),
              "unrecorded_as_present": bool(body.get("unrecorded_as_present", False)),
              "payment_min_cents": low, "payment_max_cents": high, "schedule_day": body.get("schedule_day"),
              "updated_at": utcnow()}
    lock_settings(session, commune)
    session.execute(billing_settings.update().where(billing_settings.c.commune == commune).values(**values))
    return get_settings(session, commune)


def commune_rules(row: Mapping) -> RuleSet:
    return rules_from_json(row["charge_rules"])


# --- price grids --------------------------------------------------------------------------------------
def grid_view(row: Mapping) -> dict:
    return {"id": row["id"], "price_ref": row["price_ref"], "label": row["label"],
            "service_label": row["service_label"], "childcare": bool(row["childcare"]),
            "brackets": [{"upper_qf": b.get("upper_qf"), "price_cents": b["price_cents"]} for b in row["brackets"]],
            "charge_rules": rules_to_json(rules_from_json(row["charge_rules"]), only_overrides=True),
            "updated_at": isoformat_utc(row["updated_at"])}


def _grid_values(body: Mapping) -> dict:
    grid = grid_from_json(body["brackets"])
    rules = rules_from_json(body.get("charge_rules"))
    return {"label": body["label"].strip(), "service_label": (body.get("service_label") or body["label"]).strip(),
            "childcare": bool(body.get("childcare", False)),
            "brackets": [{"upper_qf": b.upper_qf, "price_cents": b.price_cents} for b in grid.brackets],
            "charge_rules": rules_to_json(rules, only_overrides=True) or None, "updated_at": utcnow()}


def list_grids(session: Session, commune: str) -> dict:
    rows = session.execute(sa.select(price_grids).where(price_grids.c.commune == commune)
                           .order_by(price_grids.c.price_ref)).mappings()
    return {"items": [grid_view(row) for row in rows]}


def _grid_row(session: Session, commune: str, grid_id: str, lock: bool = False):
    query = sa.select(price_grids).where(price_grids.c.id == grid_id, price_grids.c.commune == commune)
    row = session.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise Problem(404, GRID_NOT_FOUND)
    return row


def get_grid(session: Session, commune: str, grid_id: str) -> dict:
    return grid_view(_grid_row(session, commune, grid_id))


def create_grid(session: Session, commune: str, body: Mapping) -> dict:
    values = _grid_values(body)
    price_ref = body["price_ref"].strip()
    taken = session.execute(sa.select(price_grids.c.id).where(price_grids.c.commune == commune,
                                                              price_grids.c.price_ref == price_ref)).first()
    if taken:
        raise Problem(409, f"Une grille existe déjà pour la référence {price_ref}.")
    grid_id = str(uuid.uuid4())
    session.execute(price_grids.insert().values(id=grid_id, commune=commune, price_ref=price_ref, **values))
    return get_grid(session, commune, grid_id)


def update_grid(session: Session, commune: str, grid_id: str, body: Mapping) -> dict:
    _grid_row(session, commune, grid_id, lock=True)
    session.execute(price_grids.update().where(price_grids.c.id == grid_id).values(**_grid_values(body)))
    return get_grid(session, commune, grid_id)


def delete_grid(session: Session, commune: str, grid_id: str) -> None:
    _grid_row(session, commune, grid_id, lock=True)
    session.execute(price_grids.delete().where(price_grids.c.id == grid_id))


def grids_by_ref(session: Session, commune: str) -> dict[str, Mapping]:
    return {row["price_ref"]: row for row in session.execute(
        sa.select(price_grids).where(price_grids.c.commune == commune)).mappings()}


# --- families' billing profile ---------------------------------------------------------------------
def family_known(session: Session, commune: str, family_id: str) -> Mapping:
    row = session.execute(sa.select(families).where(families.c.family_id == family_id,
                                                    families.c.commune == commune)).mappings().first()
    if row is None:
        raise Problem(404, "Cette famille est introuvable dans votre commune.")
    return row


def account_view(commune: str, family: Mapping, account: Mapping | None) -> dict:
    return {"family_id": family["family_id"], "family_name": family["family_name"], "commune": commune,
            "qf": account["qf"] if account else None, "qf_source": account["qf_source"] if account else None,
            "direct_debit": bool(account["direct_debit"]) if account else False,
            "updated_at": isoformat_utc(account["updated_at"]) if account else None}


def get_account(session: Session, commune: str, family_id: str) -> dict:
    family = family_known(session, commune, family_id)
    account = session.execute(sa.select(family_accounts).where(family_accounts.c.commune == commune,
                                                               family_accounts.c.family_id == family_id)
                              ).mappings().first()
    return account_view(commune, family, account)


def put_account(session: Session, commune: str, family_id: str, body: Mapping, agent: str) -> dict:
    family_known(session, commune, family_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if "qf" in body:
        values.update(qf=body["qf"], qf_source="agent" if body["qf"] is not None else None, qf_set_by=agent)
    if "direct_debit" in body:
        values["direct_debit"] = bool(body["direct_debit"])
    stmt = dialect_insert(session, family_accounts).values(commune=commune, family_id=family_id,
                                                       direct_debit=values.get("direct_debit", False),
                                                       **{k: v for k, v in values.items() if k != "direct_debit"})
    session.execute(stmt.on_conflict_do_update(index_elements=["commune", "family_id"], set_=values))
    return get_account(session, commune, family_id)


def accounts_of(session: Session, commune: str) -> dict[str, Mapping]:
    return {row["family_id"]: row for row in session.execute(
        sa.select(family_accounts).where(family_accounts.c.commune == commune)).mappings()}
