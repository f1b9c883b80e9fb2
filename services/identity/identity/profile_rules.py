"""Checking and normalising what people type: profiles, children, contacts. Pure, no I/O.

Each `check_*` function takes the raw fields and returns clean values, or raises
`InvalidInput` with one French message per faulty field (keys = input field names), so a
form can show every error next to its field at once.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from identity.errors import InvalidInput

REQUIRED = "Ce champ est obligatoire."
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
_POSTCODE = re.compile(r"^\d{5}$")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


class _Errors(dict):
    def raise_if_any(self) -> None:
        if self:
            raise InvalidInput(dict(self))


def _text(data: dict, field: str, errors: _Errors, *, required: bool, max_length: int) -> str | None:
    raw = data.get(field)
    value = " ".join(str(raw).split()) if raw is not None else ""
    if not value:
        if required:
            errors[field] = REQUIRED
        return None
    if len(value) > max_length:
        errors[field] = f"Ce champ ne peut pas dépasser {max_length} caractères."
        return None
    return value


def normalise_email(value: str) -> str:
    """The e-mail lower-cased (the login is case-insensitive); ValueError with a French message."""
    try:
        info = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("Saisissez une adresse e-mail valide, par exemple nom@exemple.fr.") from None
    return info.normalized.lower()


def normalise_phone(value: str) -> str:
    """A French number (06 12 34 56 78, 06.12.34.56.78, +33 6 12 34 56 78, overseas
    departments…) or any valid international number given with its +prefix. Returns the
    national format for French numbers, the international format otherwise."""
    try:
        number = phonenumbers.parse(value.strip(), "FR")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValueError("Saisissez un numéro de téléphone valide, par exemple 06 12 34 56 78.")
    if phonenumbers.region_code_for_number(number) == "FR":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def parse_past_date(value: str, today: date) -> date:
    """AAAA-MM-JJ (HTML date input) or JJ/MM/AAAA; must not be in the future."""
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(value.strip(), fmt).date()
            break
        except ValueError:
            continue
    else:
        raise ValueError("Saisissez une date au format JJ/MM/AAAA.")
    if parsed > today:
        raise ValueError("La date ne peut pas être dans le futur.")
    if parsed < EARLIEST_BIRTH_DATE:
        raise ValueError("Vérifiez l'année de cette date.")
    return parsed


def _checked(data: dict, field: str, errors: _Errors, check, *, required: bool, max_length: int = 320):
    raw = _text(data, field, errors, required=required, max_length=max_length)
    if raw is None:
        return None
    try:
        return check(raw)
    except ValueError as exc:
        errors[field] = str(exc)
        return None


def _postcode(value: str) -> str:
    compact = value.replace(" ", "")
    if not _POSTCODE.match(compact):
        raise ValueError("Le code postal comporte 5 chiffres, par exemple 54180.")
    return compact


# --- use-case inputs ---------------------------------------------------------------------------
def check_registration(data: dict) -> tuple[str, str]:
    """An agent's registration: (family name, login e-mail)."""
    errors = _Errors()
    name = _text(data, "family_name", errors, required=True, max_length=200)
    email = _checked(data, "email", errors, normalise_email, required=True)
    errors.raise_if_any()
    return name, email


def check_profile(data: dict, login_email: str, today: date) -> dict[str, Any]:
    """Step 1/2 of activation. The e-mail must stay the login e-mail the link was sent to:
    the link proves the parent reads that mailbox and no other (a contact e-mail can be set
    later in the family space)."""
    errors = _Errors()
    clean = {
        "family_name": _text(data, "family_name", errors, required=True, max_length=100),
        "given_name": _text(data, "given_name", errors, required=True, max_length=100),
        "birth_date": _checked(data, "birth_date", errors, lambda v: parse_past_date(v, today), required=True),
        "street": _text(data, "street", errors, required=True, max_length=200),
        "postcode": _checked(data, "postcode", errors, _postcode, required=True),
        "city": _text(data, "city", errors, required=True, max_length=100),
        "email": _checked(data, "email", errors, normalise_email, required=True),
        "phone": _checked(data, "phone", errors, normalise_phone, required=True),
    }
    if clean["email"] and clean["email"] != login_email.lower():
        errors["email"] = (f"L'adresse e-mail de connexion est celle qui a reçu le lien ({login_email}). "
                           "Vous pourrez indiquer une autre adresse de contact dans votre espace famille.")
    errors.raise_if_any()
    clean["birth_date"] = clean["birth_date"].isoformat()
    return clean


def check_invitation_profile(data: dict, today: date) -> dict[str, Any]:
    """The invited guardian's profile (no address: the family's home address is the first
    responsable's; a different one goes through a request)."""
    errors = _Errors()
    clean = {
        "family_name": _text(data, "family_name", errors, required=True, max_length=100),
        "given_name": _text(data, "given_name", errors, required=True, max_length=100),
        "birth_date": _checked(data, "birth_date", errors, lambda v: parse_past_date(v, today), required=False),
        "phone": _checked(data, "phone", errors, normalise_phone, required=True),
    }
    if not data.get("password"):
        errors["password"] = REQUIRED
    errors.raise_if_any()
    return clean


def check_family_name(data: dict) -> str:
    errors = _Errors()
    name = _text(data, "name", errors, required=True, max_length=200)
    errors.raise_if_any()
    return name


def check_contact(data: dict) -> dict[str, str | None]:
    """A guardian's own contact data; only the fields present are returned (None clears)."""
    errors = _Errors()
    clean: dict[str, str | None] = {}
    if "phone" in data:
        clean["phone"] = _checked(data, "phone", errors, normalise_phone, required=False, max_length=40)
    if "email" in data:
        clean["email"] = _checked(data, "email", errors, normalise_email, required=False)
    errors.raise_if_any()
    return clean


def check_invitation_email(data: dict) -> str:
    errors = _Errors()
    email = _checked(data, "email", errors, normalise_email, required=True)
    errors.raise_if_any()
    return email


_CHILD_REQUIRED = ("given_name", "family_name", "birth_date")


def check_child(data: dict, today: date, *, creating: bool) -> dict[str, Any]:
    """A child's fields. On creation names and birth date are required; on update only the
    fields present are checked and returned (a required field cannot be emptied)."""
    errors = _Errors()
    clean: dict[str, Any] = {}
    limits = {"given_name": 100, "family_name": 100, "school": 200, "class_name": 100}
    for field, max_length in limits.items():
        if creating or field in data:
            clean[field] = _text(data, field, errors, required=field in _CHILD_REQUIRED, max_length=max_length)
    if creating or "birth_date" in data:
        clean["birth_date"] = _checked(data, "birth_date", errors, lambda v: parse_past_date(v, today),
                                       required=True)
    if creating or "medical_info" in data:
        raw = data.get("medical_info")
        value = str(raw).strip() if raw is not None else ""
        if len(value) > 5000:
            errors["medical_info"] = "Ce champ ne peut pas dépasser 5000 caractères."
        clean["medical_info"] = value or None
    if creating or "pickup_authorisations" in data:
        clean["pickup_authorisations"] = _pickups(data.get("pickup_authorisations") or [], errors)
    errors.raise_if_any()
    return clean


def _pickups(items: list, errors: _Errors) -> list[dict[str, str]]:
    """Each authorised adult needs a name, a phone and their relation to the child.
    Errors are keyed `pickup_authorisations.<index>.<field>`."""
    clean = []
    for index, item in enumerate(items):
        item_errors = _Errors()
        entry = {
            "name": _text(item, "name", item_errors, required=True, max_length=200),
            "phone": _checked(item, "phone", item_errors, normalise_phone, required=True, max_length=40),
            "relation": _text(item, "relation", item_errors, required=True, max_length=100),
        }
        for field, message in item_errors.items():
            errors[f"pickup_authorisations.{index}.{field}"] = message
        clean.append(entry)
    return clean


def check_address(data: dict) -> dict[str, str]:
    """A postal address (street, 5-digit postcode, city), all required."""
    errors = _Errors()
    clean = {
        "street": _text(data, "street", errors, required=True, max_length=200),
        "postcode": _checked(data, "postcode", errors, _postcode, required=True),
        "city": _text(data, "city", errors, required=True, max_length=100),
    }
    errors.raise_if_any()
    return clean
