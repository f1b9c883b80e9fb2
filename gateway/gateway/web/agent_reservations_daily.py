"""The agents' daily booking work: enrolments and attendance (pointage). Routes on
`agent_reservations.bp`.

    /agent/reservations/inscriptions?q=                find a child of the commune
    /agent/reservations/inscriptions/<child_id>        the child's enrolments; enrol (fixed weekdays)
    /agent/reservations/inscriptions/<child_id>/<id>/supprimer   POST: an enrolment made by mistake
    /agent/reservations/pointage?prestation=&date=     the day's list; one form marks every child
                                                       (present, absent justified / unjustified,
                                                       present without booking); printable
"""
from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError, ServiceUnavailable
from gateway.web import agent_reservations_rules as rules
from gateway.web.agent_reservations import (bp, day_words, form_refusal, parse_day, prestation_choices, prestations,
                                            services, summary_of, today)

CHILD_SCAN_PAGES = 25  # booking has no "one child" read: scan at most 25 × 200 children of the commune
MARKS = [("present", "Présent"), ("absent_justified", "Absent justifié"),
         ("absent_unjustified", "Absent non justifié")]
MARK_CODES = {code for code, _ in MARKS}
OUTCOMES = {"confirmed": "confirmée", "waiting_listed": "sur liste d'attente", "held": "en attente de paiement"}
REFUSAL_REASONS = {"booking_deadline_passed": "délai de réservation dépassé", "full": "complet",
                   "already_booked": "déjà réservée", "closed": "fermé", "not_enrolled": "hors inscription",
                   "beyond_horizon": "trop lointaine", "not_yet_open": "pas encore ouverte"}


def child_name(child: dict) -> str:
    return f"{child.get('given_name') or ''} {child.get('family_name') or ''}".strip() or "Enfant sans nom"


def search_children(q: str, per_page: int = 50, page: int = 1) -> dict:
    params = {"per_page": per_page, "page": page, **({"q": q} if q else {})}
    return clients.booking().get("/internal/agent/children", params=params, as_agent=True)


def find_child(child_id: str, hint: str = "") -> dict:
    """A child of the commune by id (404 otherwise); `hint` (the agent's search) finds it first."""
    if hint:
        found = next((c for c in search_children(hint, 200)["items"] if c["child_id"] == child_id), None)
        if found:
            return found
    for page in range(1, CHILD_SCAN_PAGES + 1):
        result = search_children("", 200, page)
        found = next((c for c in result["items"] if c["child_id"] == child_id), None)
        if found or page * 200 >= int(result.get("total") or 0):
            break
    if not found:
        raise ServiceError(404, "Cet enfant est introuvable ou ne relève pas de votre commune.")
    return found


# --- enrolments -------------------------------------------------------------------------------------
@bp.get("/inscriptions")
@auth.agent_required
def enrolments():
    q = (request.args.get("q") or "").strip()[:100]
    result = search_children(q) if q else {"items": [], "total": 0}
    return render_template("agent/reservations/inscriptions.html", commune=auth.active_commune(), q=q,
                           children=result["items"], total=int(result.get("total") or 0), name=child_name)


def _render_child(child_id: str, values=None, errors=None, summary=None, status: int = 200):
    hint = (request.values.get("q") or "").strip()[:100]
    child = find_child(child_id, hint)
    items = clients.booking().get("/internal/agent/enrolments", params={"child_id": child_id, "per_page": 200},
                                  as_agent=True)["items"]
    found = services()
    labels = {s["id"]: s["label"] for s in found}
    start = today()
    school_year = start.year if start.month >= 8 else start.year - 1
    defaults = {"service_id": "", "first": start.isoformat(), "last": f"{school_year + 1}-07-03", "weekdays": []}
    return render_template("agent/reservations/inscription_enfant.html", commune=auth.active_commune(), child=child,
                           name=child_name(child), enrolments=items, labels=labels, services=found, q=hint,
                           values=values or defaults, errors=errors or {}, summary=summary or [],
                           weekday_choices=rules.WEEKDAY_CHOICES[:5]), status


@bp.get("/inscriptions/<child_id>")
@auth.agent_required
def child_enrolments(child_id: str):
    return _render_child(child_id)


def _outcome_words(bookings: list[dict], names: dict[str, str]) -> str:
    parts = []
    for item in bookings:
        outcome = item.get("outcome") or ""
        count = int(item.get("count") or 0)
        if outcome.startswith("refused:"):
            reason = outcome.split(":", 1)[1]
            words = f"refusée{'s' if count > 1 else ''} ({REFUSAL_REASONS.get(reason, reason)})"
        else:
            words = OUTCOMES.get(outcome, outcome)
            if count > 1 and words.endswith("ée"):
                words += "s"
        parts.append(f"{names.get(item.get('prestation_id'), 'prestation')} : {count} date{'s' if count > 1 else ''} "
                     f"{words}")
    return " ; ".join(parts)


ENROLMENT_UNAVAILABLE = ("L'inscription n'est pas enregistrée : le service des réservations ou la vérification du "
                         "dossier de l'enfant est momentanément indisponible. Réessayez dans quelques minutes.")


@bp.post("/inscriptions/<child_id>")
@auth.agent_required
def enrol(child_id: str):
    values = {name: (request.form.get(name) or "").strip()[:64] for name in ("service_id", "first", "last")}
    values["weekdays"] = [d for d in request.form.getlist("weekdays") if d in {"0", "1", "2", "3", "4"}]
    errors = {}
    first, last = parse_day(values["first"]), parse_day(values["last"])
    if not values["service_id"]:
        errors["service_id"] = "Choisissez le service."
    if first is None:
        errors["first"] = "Indiquez le premier jour de l'inscription (JJ/MM/AAAA)."
    if last is None:
        errors["last"] = "Indiquez le dernier jour de l'inscription (JJ/MM/AAAA)."
    elif first and last < first:
        errors["last"] = "Le dernier jour doit suivre le premier."
    if errors:
        return _render_child(child_id, values, errors, summary_of(errors), 422)
    body = {"child_id": child_id, "service_id": values["service_id"], "first": first.isoformat(),
            "last": last.isoformat(), "fixed_weekdays": sorted(int(d) for d in values["weekdays"])}
    try:
        created = clients.booking().post("/internal/agent/enrolments", json=body, as_agent=True,
                                         idempotency_key=idempotency.submitted())
    except ServiceUnavailable:
        # booking down, or requests unable to check the child's dossier (booking fails closed):
        # either way nothing is recorded; the form keeps what the agent typed.
        return _render_child(child_id, values, {}, summary_of({}, [ENROLMENT_UNAVAILABLE]), 503)
    except ServiceError as exc:
        errors, extra = form_refusal(exc)
        return _render_child(child_id, values, errors, summary_of(errors, extra), exc.status)
    message = f"Inscription enregistrée du {first:%d/%m/%Y} au {last:%d/%m/%Y}."
    if created.get("bookings"):
        names = {p["id"]: p["label"] for p in prestations(values["service_id"])}
        message += " Jours fixes réservés — " + _outcome_words(created["bookings"], names) + "."
    elif body["fixed_weekdays"]:
        message += " Aucune date à réserver sur ces jours fixes (dates passées, fermées ou hors période)."
    flash(message, "success")
    return redirect(url_for("agent_reservations.child_enrolments", child_id=child_id,
                            q=request.values.get("q") or None))


@bp.post("/inscriptions/<child_id>/<enrolment_id>/supprimer")
@auth.agent_required
def delete_enrolment(child_id: str, enrolment_id: str):
    clients.booking().delete(clients.internal_path("/internal/agent/enrolments/{}", enrolment_id), as_agent=True)
    flash("L'inscription est supprimée. Les réservations déjà faites restent : annulez-les si besoin.", "success")
    return redirect(url_for("agent_reservations.child_enrolments", child_id=child_id))


# --- attendance (pointage) -----------------------------------------------------------------------------
def _day_list(prestation_id: str, day: dt.date) -> dict:
    return clients.booking().get(
        clients.internal_path("/internal/agent/prestations/{}/sessions/{}/attendance", prestation_id, day.isoformat()),
        params={"per_page": 500}, as_agent=True)


def _render_attendance(status: int = 200, errors=None, summary=None):
    choices = prestation_choices()
    prestation_id = request.values.get("prestation") or ""
    day = parse_day(request.values.get("date")) or today()
    q = (request.values.get("chercher") or "").strip()[:100]
    day_list, extra = None, []
    if prestation_id:
        if prestation_id not in dict(choices):
            raise ServiceError(404, "Cette prestation est introuvable.")
        day_list = _day_list(prestation_id, day)
        listed = {row["child_id"] for row in day_list.get("items") or []}
        if q:
            extra = [c for c in search_children(q, 20)["items"] if c["child_id"] not in listed and not c.get("removed")]
    editable = bool(day_list) and not day_list.get("locked") and day <= today()
    rows = day_list.get("items") if day_list else []
    counts = {code: sum(1 for r in rows if r.get("status") == code) for code, _ in MARKS}
    counts["unmarked"] = sum(1 for r in rows if not r.get("status"))
    counts["booked"] = sum(1 for r in rows if r.get("booked"))
    return render_template(
        "agent/reservations/pointage.html", commune=auth.active_commune(), choices=choices,
        prestation_id=prestation_id, prestation_label=dict(choices).get(prestation_id, ""), day=day,
        future=day > today(), day_list=day_list, rows=rows, extra=extra, q=q, editable=editable, marks=MARKS,
        counts=counts, name=child_name, errors=errors or {}, summary=summary or []), status


@bp.get("/pointage")
@auth.agent_required
def attendance():
    return _render_attendance()


@bp.post("/pointage")
@auth.agent_required
def record_attendance():
    prestation_id = request.form.get("prestation") or ""
    day = parse_day(request.form.get("date"))
    if not prestation_id or day is None:
        raise ServiceError(400, "Choisissez la prestation et la date à pointer.")
    everyone = request.form.get("tous") == "present"
    marks = []
    for key, value in request.form.items():
        if key.startswith("mark-") and value in MARK_CODES:
            marks.append({"child_id": key.removeprefix("mark-")[:64], "status": value})
    if everyone:  # "Tous présents": every booked child not marked yet
        marked = {m["child_id"] for m in marks}
        marks += [{"child_id": c, "status": "present"} for c in request.form.getlist("booked")[:500]
                  if c and c not in marked]
    if not marks:
        message = "Choisissez au moins un pointage (Présent, Absent justifié ou Absent non justifié)."
        return _render_attendance(422, {}, [(None, message)])
    try:
        clients.booking().put(
            clients.internal_path("/internal/agent/prestations/{}/sessions/{}/attendance", prestation_id,
                                  day.isoformat()), json={"marks": marks[:500]}, as_agent=True)
    except ServiceError as exc:
        errors, extra = form_refusal(exc)
        return _render_attendance(exc.status, errors, summary_of(errors, extra))
    flash(f"Pointage du {day_words(day)} enregistré ({len(marks)} enfant{'s' if len(marks) > 1 else ''}).",
          "success")
    return redirect(url_for("agent_reservations.attendance", prestation=prestation_id, date=day.isoformat()))
