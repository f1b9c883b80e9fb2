"""A category's typed form on the parents' request pages: the browser's fields to the service's
answers, the service's refusals back to the fields they are about. No I/O.

Field names on the page: `champ_<key>` for a category's field, `texte` for the request's text,
`fichier_<doc_type>` / `existant_<doc_type>` / `date_<doc_type>` for a document type. The
service names errors by field key, `text`, `documents.<doc_type>` and `document_ids`.
"""
from __future__ import annotations

from gateway.clients import ServiceError, ServiceUnavailable

# Refusals that belong next to the form rather than on an error page.
FORM_STATUSES = (400, 409, 413, 415, 422)
MAX_VALUE = 8000
SCANNER_DOWN = ("L'analyse antivirus des fichiers est momentanément indisponible : votre fichier n'a pas été "
                "enregistré. Réessayez dans quelques minutes.")


def field_name(key: str) -> str:
    return f"champ_{key}"


def answers_from_form(category: dict, form=None) -> tuple[dict, dict, dict]:
    """(answers for the service, values to show again, errors the gateway can tell itself)."""
    from flask import request
    form = form if form is not None else request.form
    data, values, errors = {}, {}, {}
    for field in category.get("fields") or []:
        name = field_name(field["key"])
        if field["type"] == "checkbox":
            checked = form.get(name) == "1"
            values[name] = checked
            data[field["key"]] = checked
            continue
        raw = (form.get(name) or "").strip()[:MAX_VALUE]
        values[name] = raw
        if not raw:
            continue
        if field["type"] == "number":
            try:
                data[field["key"]] = int(raw)
            except ValueError:
                errors[name] = f"« {field['label']} » : saisissez un nombre entier."
            continue
        data[field["key"]] = raw
    return data, values, errors


def values_from_answers(category: dict, answers: dict) -> dict:
    values = {}
    for field in category.get("fields") or []:
        value = answers.get(field["key"])
        values[field_name(field["key"])] = bool(value) if field["type"] == "checkbox" else (
            "" if value is None else str(value))
    return values


def page_errors(exc: ServiceError, category: dict) -> tuple[dict, dict | list]:
    """The service's refusal as (errors by page field, summary)."""
    keys = {f["key"] for f in category.get("fields") or []}
    errors = {}
    for where, message in (exc.errors or {}).items():
        if not isinstance(message, str):
            continue
        if where in keys:
            errors[field_name(where)] = message
        elif where == "text":
            errors["texte"] = message
        elif where.startswith("documents."):
            errors[f"existant_{where.removeprefix('documents.')}"] = message
        else:
            errors.setdefault("formulaire", message)
    if not errors:
        return {}, [exc.detail]
    return errors, {k: v for k, v in errors.items()}


def upload_failure_message(exc: ServiceError) -> str | None:
    """What to say next to a file input the service refused; None when it is not about the file."""
    if isinstance(exc, ServiceUnavailable) and exc.remote_status == 503:
        return SCANNER_DOWN
    if exc.status in (400, 413, 415, 422):
        messages = [m for m in (exc.errors or {}).values() if isinstance(m, str)]
        return " ".join(messages) if messages else exc.detail
    return None
