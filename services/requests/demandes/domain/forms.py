"""Categories' forms: the fields an agent defines, and a parent's answers checked against them.

A field is a dict: `key` (a slug), `label`, `type`, `required`, and for some types `options`
(choice) or `max_length` (text). Errors are French, keyed by field, shown next to the field.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

FIELD_TYPES = ("text", "textarea", "date", "choice", "child", "number", "postcode", "email", "phone", "checkbox")
TYPE_LABELS = {"text": "texte court", "textarea": "texte long", "date": "date", "choice": "liste de choix",
               "child": "choix d'un enfant", "number": "nombre", "postcode": "code postal", "email": "adresse e-mail",
               "phone": "téléphone", "checkbox": "case à cocher"}
MAX_FIELDS = 30
MAX_OPTIONS = 50
TEXT_MAX, TEXTAREA_MAX, LABEL_MAX, TEMPLATE_MAX = 500, 4000, 200, 4000
NUMBER_MAX = 1_000_000

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_POSTCODE = re.compile(r"^\d{5}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 .\-]{6,20}$")


class FormError(Exception):
    """Invalid input; `errors` maps a field key (or "fields", "template"...) to a French message."""

    def __init__(self, errors: dict[str, str], detail: str = "Le formulaire contient des erreurs."):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


def clean_text(value: Any, limit: int, *, multiline: bool = False) -> str | None:
    """Stripped text, or None if empty; ValueError (French) when too long or holding control characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Un texte est attendu.")
    value = value.strip()
    if _CONTROL.search(value) or (not multiline and ("\n" in value or "\r" in value)):
        raise ValueError("Ce texte contient des caractères non autorisés.")
    if len(value) > limit:
        raise ValueError(f"{limit} caractères au plus.")
    return value or None


# --- the agent's definition -------------------------------------------------------------------
def check_fields(fields: Any) -> list[dict]:
    """The cleaned field definitions of a category, or FormError."""
    if not isinstance(fields, list):
        raise FormError({"fields": "La liste des champs est attendue."})
    if len(fields) > MAX_FIELDS:
        raise FormError({"fields": f"{MAX_FIELDS} champs au plus par thématique."})
    errors: dict[str, str] = {}
    cleaned, seen = [], set()
    for index, field in enumerate(fields):
        where = f"fields[{index}]"
        if not isinstance(field, dict):
            errors[where] = "Chaque champ est décrit par un objet."
            continue
        key, ftype = field.get("key"), field.get("type")
        if not isinstance(key, str) or not _KEY.match(key):
            errors[where] = "Identifiant invalide : lettres minuscules, chiffres et « _ », 40 caractères au plus."
            continue
        if key in seen:
            errors[where] = f"L'identifiant « {key} » est utilisé deux fois."
            continue
        seen.add(key)
        if ftype not in FIELD_TYPES:
            errors[where] = f"Type de champ inconnu : choisissez parmi {', '.join(FIELD_TYPES)}."
            continue
        try:
            label = clean_text(field.get("label"), LABEL_MAX)
            help_text = clean_text(field.get("help"), LABEL_MAX * 2)
        except ValueError as exc:
            errors[where] = f"Libellé ou aide : {exc}"
            continue
        if not label:
            errors[where] = "Chaque champ a un libellé."
            continue
        out = {"key": key, "label": label, "type": ftype, "required": bool(field.get("required", False))}
        if help_text:
            out["help"] = help_text
        if ftype == "choice":
            options = field.get("options")
            if (not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS
                    or not all(isinstance(o, str) and o.strip() and len(o) <= LABEL_MAX for o in options)
                    or len({o.strip() for o in options}) != len(options)):
                errors[where] = f"Une liste de choix a de 1 à {MAX_OPTIONS} options, distinctes et non vides."
                continue
            out["options"] = [o.strip() for o in options]
        if ftype in ("text", "textarea") and field.get("max_length") is not None:
            ceiling = TEXT_MAX if ftype == "text" else TEXTAREA_MAX
            limit = field.get("max_length")
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= ceiling:
                errors[where] = f"La longueur maximale est un nombre entre 1 et {ceiling}."
                continue
            out["max_length"] = limit
        cleaned.append(out)
    if errors:
        raise FormError(errors)
    return cleaned


# --- the parent's answers ---------------------------------------------------------------------
def check_answers(fields: list[dict], answers: Any, child_ids: set[str], *, complete: bool) -> dict:
    """The parent's answers, cleaned. `complete` (on submission) makes required fields required;
    a draft may be partial. `child_ids` are the children the parent may name."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        raise FormError({"data": "Les réponses au formulaire sont attendues sous forme d'objet."})
    by_key = {f["key"]: f for f in fields}
    errors: dict[str, str] = {}
    for key in answers:
        if key not in by_key:
            errors[str(key)[:50]] = "Ce champ n'existe pas dans ce formulaire."
    cleaned: dict[str, Any] = {}
    for key, field in by_key.items():
        raw = answers.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if complete and field["required"] and not (field["type"] == "checkbox"):
                errors[key] = f"« {field['label']} » est obligatoire."
            continue
        try:
            value = _check_value(field, raw, child_ids)
        except ValueError as exc:
            errors[key] = f"« {field['label']} » : {exc}"
            continue
        if complete and field["required"] and field["type"] == "checkbox" and value is not True:
            errors[key] = f"« {field['label']} » doit être coché."
            continue
        cleaned[key] = value
    if errors:
        raise FormError(errors)
    return cleaned


def _check_value(field: dict, raw: Any, child_ids: set[str]) -> Any:
    ftype = field["type"]
    if ftype == "checkbox":
        if not isinstance(raw, bool):
            raise ValueError("oui ou non attendu.")
        return raw
    if ftype == "number":
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= NUMBER_MAX:
            raise ValueError(f"un nombre entier entre 0 et {NUMBER_MAX} est attendu.")
        return raw
    if not isinstance(raw, str):
        raise ValueError("un texte est attendu.")
    if ftype in ("text", "textarea"):
        limit = field.get("max_length") or (TEXT_MAX if ftype == "text" else TEXTAREA_MAX)
        return clean_text(raw, limit, multiline=ftype == "textarea")
    value = raw.strip()
    if ftype == "date":
        try:
            if len(value) != 10:
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError("une date au format AAAA-MM-JJ est attendue.") from None
    if ftype == "choice":
        if value not in field["options"]:
            raise ValueError("choisissez une des options proposées.")
        return value
    if ftype == "child":
        if value not in child_ids:
            raise ValueError("cet enfant n'est pas un enfant de votre famille.")
        return value
    if ftype == "postcode":
        value = value.replace(" ", "")
        if not _POSTCODE.match(value):
            raise ValueError("un code postal à 5 chiffres est attendu.")
        return value
    if ftype == "email":
        if not _EMAIL.match(value):
            raise ValueError("une adresse e-mail valide est attendue.")
        return value
    if ftype == "phone":
        if not _PHONE.match(value):
            raise ValueError("un numéro de téléphone valide est attendu.")
        return value
    raise ValueError("type de champ inconnu.")  # pragma: no cover - check_fields refuses it


def check_template(template: Any) -> str | None:
    try:
        return clean_text(template, TEMPLATE_MAX, multiline=True)
    except ValueError as exc:
        raise FormError({"template": f"Modèle de texte : {exc}"}) from None


def check_request_text(text: Any) -> str | None:
    try:
        return clean_text(text, TEXTAREA_MAX, multiline=True)
    except ValueError as exc:
        raise FormError({"text": f"Texte de la demande : {exc}"}) from None
