"""What an accepted request changes elsewhere, announced by an event.

A category may carry an `effect`; its form must then have the fields the effect reads (keys and
types below, required). On acceptance, `effect_facts` turns the answers into the event's facts.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from demandes.domain.forms import FormError

ADDRESS_CHANGE = "address_change"            # the parent's home address (identity)
ALTERNATE_ADDRESS = "alternate_address"      # a child's second home (identity)
QUOTIENT_UPDATE = "quotient_update"          # the family's quotient familial (billing)
ABSENCE_JUSTIFICATION = "absence_justification"  # a child's absence justified (booking)

REQUIRED_FIELDS: dict[str, dict[str, str]] = {
    ADDRESS_CHANGE: {"street": "text", "postcode": "postcode", "city": "text"},
    ALTERNATE_ADDRESS: {"child": "child", "street": "text", "postcode": "postcode", "city": "text"},
    QUOTIENT_UPDATE: {"quotient": "number"},
    ABSENCE_JUSTIFICATION: {"child": "child", "first_day": "date", "last_day": "date"},
}
EFFECTS = tuple(REQUIRED_FIELDS)
LABELS = {ADDRESS_CHANGE: "changement d'adresse", ALTERNATE_ADDRESS: "adresse alternée d'un enfant",
          QUOTIENT_UPDATE: "mise à jour du quotient familial", ABSENCE_JUSTIFICATION: "justification d'absence"}
MAX_ABSENCE_DAYS = 92
# What identity stores for an address (identity.profile_rules.check_address).
ADDRESS_LIMITS = {"street": 200, "city": 100}


def check_effect(effect: Any, fields: list[dict]) -> str | None:
    """The category's effect, once its form is known to carry what the effect needs."""
    if effect is None:
        return None
    if effect not in REQUIRED_FIELDS:
        raise FormError({"effect": f"Effet inconnu : choisissez parmi {', '.join(EFFECTS)}."})
    by_key = {f["key"]: f for f in fields}
    missing = [f"{key} ({ftype})" for key, ftype in REQUIRED_FIELDS[effect].items()
               if key not in by_key or by_key[key]["type"] != ftype or not by_key[key]["required"]]
    if missing:
        raise FormError({"effect": f"L'effet « {LABELS[effect]} » demande les champs obligatoires : "
                                   f"{', '.join(missing)}."})
    return effect


def check_submission(effect: str | None, answers: dict) -> None:
    """Rules across fields, checked when the parent submits."""
    if effect in (ADDRESS_CHANGE, ALTERNATE_ADDRESS):
        too_long = {key: f"{limit} caractères au plus." for key, limit in ADDRESS_LIMITS.items()
                    if len(answers[key]) > limit}
        if too_long:
            raise FormError(too_long)
    if effect == ABSENCE_JUSTIFICATION:
        first, last = date.fromisoformat(answers["first_day"]), date.fromisoformat(answers["last_day"])
        if last < first:
            raise FormError({"last_day": "Le dernier jour d'absence ne peut pas précéder le premier."})
        if (last - first).days >= MAX_ABSENCE_DAYS:
            raise FormError({"last_day": f"Une justification couvre {MAX_ABSENCE_DAYS} jours au plus."})


def effect_facts(effect: str | None, answers: dict) -> dict | None:
    """The facts the accepted request's effect event carries (None: no effect)."""
    if effect in (ADDRESS_CHANGE, ALTERNATE_ADDRESS):
        facts = {"street": answers["street"], "postcode": answers["postcode"], "city": answers["city"]}
        if effect == ALTERNATE_ADDRESS:
            facts["child_id"] = answers["child"]
        return facts
    if effect == QUOTIENT_UPDATE:
        return {"quotient_familial": answers["quotient"]}
    if effect == ABSENCE_JUSTIFICATION:
        return {"child_id": answers["child"], "first_day": answers["first_day"], "last_day": answers["last_day"],
                "reason": answers.get("reason")}
    return None
