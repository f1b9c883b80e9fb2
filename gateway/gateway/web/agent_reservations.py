"""The agents' booking back office (issue 8), on booking's agent API, for the active commune only.

    /agent/reservations                                  home: what to do today, links
    /agent/reservations/catalogue                        services and their prestations; new service
    /agent/reservations/catalogue/services/<id>          POST: rename a service
    /agent/reservations/catalogue/prestations/nouvelle   new prestation (?service=)
    /agent/reservations/catalogue/prestations/<id>       a prestation: its rules in words, edit form
    /agent/reservations/catalogue/prestations/<id>/seances   a month of dates (open or why closed,
                                                         places), generate the opening dates of a period
    /agent/reservations/fermetures                       ad-hoc closures: list, add, remove
    (agent_reservations_desk.py: enrolments, attendance, cancellations, waiting lists,
     deadline overrides, bookings, audit trail, CSV exports)

Booking scopes every call to the commune of the service token (`as_agent=True`): another
commune's service, prestation or child is a 404 whatever the URL says. Every id from the
browser goes into a path through `clients.internal_path`. Refusals are shown next to the field
and summarised at the top of the page (French, from the gateway's checks or booking's detail).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web import agent_reservations_rules as rules
from gateway.web.account_helpers import register_filters

bp = Blueprint("agent_reservations", __name__, url_prefix="/agent/reservations")
register_filters(bp)

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
# Statuses whose French detail belongs on the form the agent was using (others: error pages).
FORM_STATUSES = (400, 409, 422, 429)
MAX_PAGE = 200  # booking's largest page


def today() -> dt.date:
    return dt.datetime.now(PARIS).date()


# --- display helpers (also template filters) ------------------------------------------------------
def parse_day(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value and len(str(value)) == 10 else None
    except ValueError:
        return None


@bp.app_template_filter("agent_resa_day")
def day_words(value) -> str:
    """« mardi 1er décembre 2026 »."""
    day = parse_day(value)
    if day is None:
        return str(value or "")
    number = "1er" if day.day == 1 else str(day.day)
    return f"{rules.WEEKDAY_NAMES[day.weekday()]} {number} {MONTHS[day.month - 1]} {day.year}"


@bp.app_template_filter("agent_resa_rule")
def _rule_words(rule) -> str:
    return rules.rule_words(rule)


@bp.app_template_filter("agent_resa_weekdays")
def _weekdays_words(days) -> str:
    return rules.weekdays_words(days)


def month_label(month: dt.date) -> str:
    return f"{MONTHS[month.month - 1]} {month.year}"


def parse_month(value: str | None) -> dt.date:
    """The first day of `value` (AAAA-MM); this month when missing or malformed."""
    try:
        year, number = (int(part) for part in (value or "").split("-"))
        return dt.date(year, number, 1)
    except ValueError:
        return today().replace(day=1)


def shift_month(month: dt.date, delta: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + delta
    return dt.date(index // 12, index % 12 + 1, 1)


def form_refusal(exc: ServiceError) -> tuple[dict, list[str]]:
    """(errors next to fields, summary lines) for booking's refusal of a form; other statuses
    (403, 404, 503) go to the app's error pages."""
    if exc.status not in FORM_STATUSES:
        raise exc
    errors = {k: v for k, v in (exc.errors or {}).items() if isinstance(v, str)}
    return errors, ([exc.detail] if not errors else [])


def summary_of(errors: dict, extra: list[str] | None = None) -> list[tuple[str | None, str]]:
    """The error summary's lines: (field id or None, message)."""
    return [(name, message) for name, message in errors.items()] + [(None, m) for m in extra or []]


# --- what booking knows of the commune -------------------------------------------------------------
def services() -> list[dict]:
    return clients.booking().get("/internal/agent/services", params={"per_page": MAX_PAGE}, as_agent=True)["items"]


def prestations(service_id: str | None = None) -> list[dict]:
    params = {"per_page": MAX_PAGE, **({"service_id": service_id} if service_id else {})}
    return clients.booking().get("/internal/agent/prestations", params=params, as_agent=True)["items"]


def prestation(prestation_id: str) -> dict:
    return clients.booking().get(clients.internal_path("/internal/agent/prestations/{}", prestation_id),
                                 as_agent=True)


def prestation_choices() -> list[tuple[str, str]]:
    """(id, « Service — Prestation ») of every prestation, for the pickers."""
    by_service = {s["id"]: s["label"] for s in services()}
    items = [(p["id"], f"{by_service.get(p['service_id'], '')} — {p['label']}") for p in prestations()]
    return sorted(items, key=lambda item: item[1].lower())


def page_args(default_per_page: int = 50) -> tuple[int, int]:
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        page = 1
    return page, default_per_page


def pages_of(result: dict) -> int:
    per_page = int(result.get("per_page") or 1)
    return max(1, -(-int(result.get("total") or 0) // per_page))


# --- home -------------------------------------------------------------------------------------------
@bp.get("")
@auth.agent_required
def index():
    waiting = clients.booking().get("/internal/agent/cancellation-requests", params={"per_page": 1}, as_agent=True)
    pending = clients.booking().get("/internal/agent/waiting-list", params={"per_page": 1}, as_agent=True)
    return render_template("agent/reservations/index.html", commune=auth.active_commune(),
                           cancellations=int(waiting.get("total") or 0), waiting=int(pending.get("total") or 0))


# --- catalogue ----------------------------------------------------------------------------------------
ZONES = [("A", "Zone A"), ("B", "Zone B"), ("C", "Zone C")]


def _render_catalogue(values=None, errors=None, summary=None, status: int = 200, calendar_errors=None):
    calendar = clients.booking().get("/internal/agent/calendar", as_agent=True)
    found = services()
    all_prestations = prestations()
    grouped = [{"service": s, "prestations": [p for p in all_prestations if p["service_id"] == s["id"]]}
               for s in found]
    return render_template("agent/reservations/catalogue.html", commune=auth.active_commune(), groups=grouped,
                           values=values or {"code": "", "label": ""}, errors=errors or {},
                           summary=summary or [], calendar=calendar, zones=ZONES,
                           weekday_choices=rules.WEEKDAY_CHOICES[:6], calendar_errors=calendar_errors or {}), status


@bp.get("/catalogue")
@auth.agent_required
def catalogue():
    return _render_catalogue()


@bp.post("/catalogue/services")
@auth.agent_required
def create_service():
    values = {name: (request.form.get(name) or "").strip()[:200] for name in ("code", "label")}
    errors = {}
    if not rules.CODE.match(values["code"]) or len(values["code"]) > 40:
        errors["code"] = ("Indiquez un code en minuscules, chiffres et tirets (par exemple cantine), "
                          "40 caractères au plus.")
    if not values["label"]:
        errors["label"] = "Indiquez le nom du service."
    if errors:
        return _render_catalogue(values, errors, summary_of(errors), 422)
    try:
        service = clients.booking().post("/internal/agent/services", json=values, as_agent=True,
                                         idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        errors, extra = form_refusal(exc)
        if exc.status == 409:  # the code is taken
            errors, extra = {"code": exc.detail}, []
        return _render_catalogue(values, errors, summary_of(errors, extra), exc.status)
    flash(f"Le service « {service.get('label') or values['label']} » est créé. Ajoutez-lui ses prestations.", "success")
    return redirect(url_for("agent_reservations.catalogue") + f"#service-{service.get('id', '')}")


@bp.post("/catalogue/calendrier")
@auth.agent_required
def save_calendar():
    """The commune's school-holiday zone and school weekdays (a four-day week has no Wednesday):
    the holidays and school days every prestation's dates and deadlines are counted with."""
    zone = request.form.get("zone") or ""
    weekdays = sorted({int(d) for d in request.form.getlist("school_weekdays") if d in {"0", "1", "2", "3", "4", "5"}})
    errors = {}
    if zone not in dict(ZONES):
        errors["zone"] = "Choisissez la zone de vacances scolaires de la commune."
    if not weekdays:
        errors["school_weekdays"] = "Cochez au moins un jour de classe."
    if errors:
        return _render_catalogue(summary=summary_of(errors), status=422, calendar_errors=errors)
    clients.booking().put("/internal/agent/calendar", json={"zone": zone, "school_weekdays": weekdays}, as_agent=True)
    flash(f"Calendrier enregistré : zone {zone}, classe le {rules.weekdays_words(weekdays)}. "
          "Régénérez les dates d'ouverture des prestations concernées.", "success")
    return redirect(url_for("agent_reservations.catalogue"))


@bp.post("/catalogue/services/<service_id>")
@auth.agent_required
def rename_service(service_id: str):
    label = (request.form.get("label") or "").strip()[:200]
    if not label:
        flash("Indiquez le nouveau nom du service.", "error")
        return redirect(url_for("agent_reservations.catalogue"))
    clients.booking().patch(clients.internal_path("/internal/agent/services/{}", service_id), json={"label": label},
                            as_agent=True)
    flash(f"Le service s'appelle désormais « {label} ».", "success")
    return redirect(url_for("agent_reservations.catalogue"))


# --- prestations ------------------------------------------------------------------------------------------
def _render_prestation_form(values: dict, errors: dict, summary, *, service: dict, current: dict | None = None,
                            status: int = 200):
    return render_template(
        "agent/reservations/prestation_form.html", commune=auth.active_commune(), values=values, errors=errors,
        summary=summary, service=service, current=current, presets=rules.preset_choices(), kinds=rules.KINDS,
        weekday_choices=rules.WEEKDAY_CHOICES, payment_modes=rules.PAYMENT_MODES, opens_during=rules.OPENS_DURING,
        refunds=rules.REFUNDS, custom=rules.CUSTOM, max_windows=rules.MAX_WINDOWS), status


def _service_of(service_id: str) -> dict:
    found = next((s for s in services() if s["id"] == service_id), None)
    if found is None:
        raise ServiceError(404, "Ce service est introuvable.")
    return found


@bp.get("/catalogue/prestations/nouvelle")
@auth.agent_required
def new_prestation():
    service = _service_of(request.args.get("service") or "")
    return _render_prestation_form(rules.new_form_values(), {}, [], service=service)


@bp.post("/catalogue/prestations")
@auth.agent_required
def create_prestation():
    service = _service_of(request.form.get("service_id") or "")
    values = rules.read_form(request.form)
    body, errors = rules.prestation_body(values, creating=True)
    if errors:
        return _render_prestation_form(values, errors, summary_of(errors), service=service, status=422)
    try:
        created = clients.booking().post("/internal/agent/prestations", json={"service_id": service["id"], **body},
                                         as_agent=True, idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        return _prestation_refused(exc, values, service)
    flash(f"La prestation « {created['label']} » est créée. Générez maintenant ses dates d'ouverture.", "success")
    return redirect(url_for("agent_reservations.sessions", prestation_id=created["id"]))


def _prestation_refused(exc: ServiceError, values: dict, service: dict, current: dict | None = None):
    if exc.status == 409:
        errors, extra = {"code": exc.detail}, []
    elif exc.status == 422 and not exc.errors:
        errors, extra = rules.problems_by_field(exc.detail)
    else:
        errors, extra = form_refusal(exc)
    return _render_prestation_form(values, errors, summary_of(errors, extra), service=service, current=current,
                                   status=exc.status)


@bp.get("/catalogue/prestations/<prestation_id>")
@auth.agent_required
def edit_prestation(prestation_id: str):
    current = prestation(prestation_id)
    return _render_prestation_form(rules.form_values_of(current), {}, [], service=_service_of(current["service_id"]),
                                   current=current)


@bp.post("/catalogue/prestations/<prestation_id>")
@auth.agent_required
def update_prestation(prestation_id: str):
    current = prestation(prestation_id)
    service = _service_of(current["service_id"])
    values = {**rules.read_form(request.form), "code": current.get("code", "")}
    body, errors = rules.prestation_body(values, creating=False)
    if errors:
        return _render_prestation_form(values, errors, summary_of(errors), service=service, current=current,
                                       status=422)
    try:
        saved = clients.booking().put(clients.internal_path("/internal/agent/prestations/{}", prestation_id),
                                      json=body, as_agent=True)
    except ServiceError as exc:
        return _prestation_refused(exc, values, service, current)
    flash(f"La prestation « {saved['label']} » est enregistrée.", "success")
    return redirect(url_for("agent_reservations.edit_prestation", prestation_id=prestation_id))


@bp.post("/catalogue/prestations/<prestation_id>/supprimer")
@auth.agent_required
def delete_prestation(prestation_id: str):
    """Only a prestation nothing was booked on (booking refuses otherwise: 409, said in a flash)."""
    current = prestation(prestation_id)
    try:
        clients.booking().delete(clients.internal_path("/internal/agent/prestations/{}", prestation_id), as_agent=True)
    except ServiceError as exc:
        if exc.status != 409:
            raise
        flash(f"{exc.detail} Modifiez-la plutôt, ou réduisez sa période.", "error")
        return redirect(url_for("agent_reservations.edit_prestation", prestation_id=prestation_id))
    flash(f"La prestation « {current['label']} » est supprimée.", "success")
    return redirect(url_for("agent_reservations.catalogue"))


# --- séances (opening dates) ---------------------------------------------------------------------------
def _month_sessions(prestation_id: str, month: dt.date) -> list[dict]:
    last = shift_month(month, 1) - dt.timedelta(days=1)
    return clients.booking().get(clients.internal_path("/internal/agent/prestations/{}/sessions", prestation_id),
                                 params={"first": month.isoformat(), "last": last.isoformat()},
                                 as_agent=True)["items"]


def _render_sessions(prestation_id: str, values=None, errors=None, summary=None, status: int = 200):
    current = prestation(prestation_id)
    month = parse_month(request.values.get("mois"))
    items, problem = [], None
    try:
        items = _month_sessions(prestation_id, month)
    except ServiceError as exc:
        if exc.status not in (400, 422):
            raise
        problem = exc.detail  # e.g. beyond the school-holiday data booking has
    schedule = current.get("schedule") or {}
    return render_template(
        "agent/reservations/seances.html", commune=auth.active_commune(), prestation=current,
        service=_service_of(current["service_id"]), month=month, month_label=month_label(month),
        previous=shift_month(month, -1), next=shift_month(month, 1), items=items, problem=problem,
        values=values or {"first": schedule.get("first") or "", "last": schedule.get("last") or ""},
        errors=errors or {}, summary=summary or []), status


@bp.get("/catalogue/prestations/<prestation_id>/seances")
@auth.agent_required
def sessions(prestation_id: str):
    return _render_sessions(prestation_id)


@bp.post("/catalogue/prestations/<prestation_id>/seances/generer")
@auth.agent_required
def generate_sessions(prestation_id: str):
    values = {name: (request.form.get(name) or "").strip()[:10] for name in ("first", "last")}
    errors = {}
    first, last = parse_day(values["first"]), parse_day(values["last"])
    if first is None:
        errors["first"] = "Indiquez le premier jour de la période (JJ/MM/AAAA)."
    if last is None:
        errors["last"] = "Indiquez le dernier jour de la période (JJ/MM/AAAA)."
    elif first and last < first:
        errors["last"] = "Le dernier jour doit suivre le premier."
    if errors:
        return _render_sessions(prestation_id, values, errors, summary_of(errors), 422)
    try:
        result = clients.booking().post(
            clients.internal_path("/internal/agent/prestations/{}/sessions/generate", prestation_id),
            json={"first": first.isoformat(), "last": last.isoformat()}, as_agent=True)
    except ServiceError as exc:
        errors, extra = form_refusal(exc)
        return _render_sessions(prestation_id, values, errors, summary_of(errors, extra), exc.status)
    count = int(result.get("generated") or 0)
    flash(f"{count} date{'s' if count > 1 else ''} d'ouverture du {first:%d/%m/%Y} au {last:%d/%m/%Y} "
          "(jours fériés, vacances et fermetures exclus).", "success")
    return redirect(url_for("agent_reservations.sessions", prestation_id=prestation_id, mois=first.strftime("%Y-%m")))


@bp.post("/catalogue/prestations/<prestation_id>/seances/<session_date>/capacite")
@auth.agent_required
def set_capacity(prestation_id: str, session_date: str):
    day = parse_day(session_date)
    text = (request.form.get("capacity") or "").strip()
    back = url_for("agent_reservations.sessions", prestation_id=prestation_id,
                   mois=(day or today()).strftime("%Y-%m"))
    if day is None:
        raise ServiceError(404, "Cette date est introuvable.")
    if text and (not text.isdigit() or int(text) > 10000):
        flash(f"Capacité du {day:%d/%m/%Y} : indiquez un nombre entier de 0 à 10000, ou laissez vide.", "error")
        return redirect(back)
    clients.booking().put(clients.internal_path("/internal/agent/prestations/{}/sessions/{}", prestation_id,
                                                day.isoformat()),
                          json={"capacity": int(text) if text else None}, as_agent=True)
    flash(f"Capacité du {day:%d/%m/%Y} : {text + ' places' if text else 'celle de la prestation'}.", "success")
    return redirect(back)


# --- closures --------------------------------------------------------------------------------------------
def _render_closures(values=None, errors=None, summary=None, status: int = 200):
    page, per_page = page_args()
    start = today() - dt.timedelta(days=31)
    result = clients.booking().get("/internal/agent/closures", params={"first": start.isoformat(), "page": page,
                                                                      "per_page": per_page}, as_agent=True)
    choices = prestation_choices()
    return render_template("agent/reservations/fermetures.html", commune=auth.active_commune(),
                           closures=result.get("items") or [], total=int(result.get("total") or 0), page=page,
                           pages=pages_of(result), since=start, choices=choices, names=dict(choices),
                           values=values or {"closed_on": "", "label": "", "prestation_id": ""},
                           errors=errors or {}, summary=summary or []), status


@bp.get("/fermetures")
@auth.agent_required
def closures():
    return _render_closures()


@bp.post("/fermetures")
@auth.agent_required
def create_closure():
    values = {name: (request.form.get(name) or "").strip()[:200] for name in ("closed_on", "label", "prestation_id")}
    errors = {}
    day = parse_day(values["closed_on"])
    if day is None:
        errors["closed_on"] = "Indiquez la date de fermeture (JJ/MM/AAAA)."
    if not values["label"]:
        errors["label"] = "Indiquez le motif (grève, journée pédagogique…) : les familles le verront."
    if errors:
        return _render_closures(values, errors, summary_of(errors), 422)
    body = {"closed_on": day.isoformat(), "label": values["label"], "prestation_id": values["prestation_id"] or None}
    try:
        clients.booking().post("/internal/agent/closures", json=body, as_agent=True,
                               idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        errors, extra = form_refusal(exc)
        return _render_closures(values, errors, summary_of(errors, extra), exc.status)
    flash(f"Fermeture du {day_words(day)} enregistrée. Les réservations déjà faites ce jour-là restent : "
          "prévenez les familles et annulez-les si besoin.", "success")
    return redirect(url_for("agent_reservations.closures"))


@bp.post("/fermetures/<closure_id>/supprimer")
@auth.agent_required
def delete_closure(closure_id: str):
    clients.booking().delete(clients.internal_path("/internal/agent/closures/{}", closure_id), as_agent=True)
    flash("La fermeture est supprimée : la date rouvre si elle fait partie des jours d'ouverture.", "success")
    return redirect(url_for("agent_reservations.closures"))


from gateway.web import agent_reservations_desk  # noqa: E402,F401  (registers the desk's routes on bp)
