"""Helpers shared by the account pages (activation, famille, invitation, agent).

Forms are validated by identity (422 with a French message per field); these pages keep what
the person typed, show identity's messages next to the fields and summarise them at the top.
"""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request, session, url_for

from gateway.clients import ServiceError

PARIS = ZoneInfo("Europe/Paris")
# Longest value a text field of these pages accepts before identity sees it (its spec allows
# 500; a longer value would be refused as a malformed body, which is not the person's fault).
MAX_FIELD_LENGTH = 500

# Statuses whose French detail belongs next to the form rather than on an error page.
FORM_STATUSES = (409, 422, 429, 503)


def form_values(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The submitted text of each field, trimmed and bounded."""
    return {name: (request.form.get(name) or "").strip()[:MAX_FIELD_LENGTH] for name in names}


def form_failure(exc: ServiceError) -> tuple[dict[str, str], dict[str, str] | list[str]]:
    """(errors next to fields, error summary) for a refused form submission.

    Raises the error again when it is not about the form (403, 404, 410…): the app's error
    handler turns it into a French page.
    """
    if exc.status not in FORM_STATUSES:
        raise exc
    errors = {k: v for k, v in (exc.errors or {}).items() if isinstance(v, str)}
    if errors:
        return errors, errors
    return {}, [exc.detail]


def rename_errors(errors: dict[str, str], mapping: dict[str, str]) -> dict[str, str]:
    """Identity names fields by its API names; a page may use other ids (e.g. invite_email)."""
    return {mapping.get(k, k): v for k, v in errors.items()}


def login_url(next_path: str) -> str:
    return url_for("auth.login", next=next_path)


def dead_link_page(exc: ServiceError, kind: str):
    """The French page of an activation or invitation link that cannot be used.

    kind: "activation" or "invitation". 404 (unknown link) and 410 (expired, used, superseded)
    are expected here; anything else goes to the app's error pages.
    """
    if exc.status not in (404, 410):
        raise exc
    return render_template("activation/lien_invalide.html", status=exc.status, detail=exc.detail,
                           kind=kind), exc.status


def refresh_session_user(**changes) -> None:
    """Keep the signed-in user's session in step after joining a commune or a family."""
    user = session.get("user")
    if not user:
        return
    communes = list(user.get("communes") or [])
    added = changes.pop("add_commune", None)
    if added and added.get("slug") and all(c.get("slug") != added["slug"] for c in communes):
        communes.append({"slug": added["slug"], "name": added.get("name") or added["slug"]})
    session["user"] = {**user, **{k: v for k, v in changes.items() if v}, "communes": communes}
    session.modified = True


# --- display --------------------------------------------------------------------------------
def _parse(value) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, (datetime, date)):
        return value
    text = str(value)
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def date_fr(value) -> str:
    """12/03/2026 (dates and date-times, in Paris time)."""
    parsed = _parse(value)
    if parsed is None:
        return ""
    if isinstance(parsed, datetime):
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(PARIS)
        parsed = parsed.date()
    return parsed.strftime("%d/%m/%Y")


def datetime_fr(value) -> str:
    """12/03/2026 à 14:05 (Paris time)."""
    parsed = _parse(value)
    if parsed is None:
        return ""
    if not isinstance(parsed, datetime):
        return date_fr(parsed)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(PARIS)
    return parsed.strftime("%d/%m/%Y à %H:%M")


def register_filters(bp: Blueprint) -> None:
    bp.add_app_template_filter(date_fr, "date_fr")
    bp.add_app_template_filter(datetime_fr, "datetime_fr")
