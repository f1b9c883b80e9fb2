"""The family's price of one booked day of each prestation, asked of billing for the booking pages
(issue 8: every bookable date shows its deadline and its price).

Billing prices (`GET /internal/parent/prices`: the grid of the prestation's price reference, the
family's QF bracket, the "present" charge rule); booking stores no amounts. Best effort: when
billing is down, slow or refuses, the pages show no price at all, never the reference code and
never an error, since booking still works without it.
"""
from __future__ import annotations

import logging

from gateway import clients
from gateway.clients import ServiceError

log = logging.getLogger(__name__)

# A calendar must not wait on billing: a short read timeout, then no prices.
PRICE_TIMEOUT = (1.0, 3.0)
MAX_REFS = 100  # billing's limit per request


def price_refs(service: dict) -> list[str]:
    return sorted({p["price_ref"] for p in service.get("prestations") or [] if p.get("price_ref")})[:MAX_REFS]


def family_prices(service: dict) -> dict[str, int]:
    """{price_ref: cents} for the signed-in family in the service's commune ({} if unknown)."""
    refs, commune = price_refs(service), service.get("commune")
    if not refs or not commune:
        return {}
    try:
        body = clients.billing().get("/internal/parent/prices", params={"commune": commune, "price_ref": refs},
                                     timeout=PRICE_TIMEOUT)
    except ServiceError as exc:
        log.warning("no prices from billing for %s: %s %s", commune, exc.status, exc.detail)
        return {}
    prices = {}
    for item in (body or {}).get("prices") or []:
        if isinstance(item, dict) and isinstance(item.get("price_cents"), int) and item.get("price_ref"):
            prices[item["price_ref"]] = item["price_cents"]
    return prices
