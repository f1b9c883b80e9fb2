"""Who is asking, and what they may see (tenancy of every use case).

- agents (and commune admins) act for `caller.commune` only (the agents projection refuses one
  identity has removed, in servicekit's check); another commune's data is "not found";
- parents act for `caller.family_id` only, and see a document once it is published.
"""
from __future__ import annotations

from servicekit.problems import Problem
from servicekit.tokens import Caller

AGENT_ROLES = ("agent", "admin")


def agent_commune(caller: Caller) -> str:
    if caller.role not in AGENT_ROLES or not caller.commune:
        raise Problem(403, "Cette opération est réservée aux agents de la commune.")
    return caller.commune


def parent_family(caller: Caller) -> str:
    if caller.role != "parent" or not caller.family_id:
        raise Problem(403, "Cette opération est réservée aux familles connectées.")
    return caller.family_id


def not_found(what: str = "Cette facture est introuvable.") -> Problem:
    return Problem(404, what)
