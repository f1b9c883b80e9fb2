"""The agents' booking desk: decisions, follow-up and exports. Routes on `agent_reservations.bp`.

    /agent/reservations/annulations            cancellation requests: accept (refund per the rule or
                                               the agent's choice) or refuse with a message; bulk accept
    /agent/reservations/listes-attente         waiting lists; confirm / decline a freed place; bulk confirm
    /agent/reservations/derogations            deadline overrides (one family, one date, a reason)
    /agent/reservations/suivi                  the commune's bookings of a period, filtered
    /agent/reservations/journal                the audit trail
    /agent/reservations/exports                CSV of bookings / attendance for a date range
"""
from __future__ import annotations

import datetime as dt

from flask import Response, flash, redirect, render_template, request, url_for
from servicekit import csvexport

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web import agent_reservations_rules as rules
from gateway.web.agent_reservations import (bp, day_words, form_refusal, page_args, pages_of, parse_day,
                                            prestation_choices, prestations, shift_month, summary_of, today)
from gateway.web.agent_reservations_daily import child_name, search_children

STATUSES = [("confirmed", "Confirmée"), ("held", "En attente de paiement"), ("pending_agent", "Place à confirmer"),
            ("waiting", "Sur liste d'attente"), ("cancellation_requested", "Annulation demandée"),
            ("cancelled", "Annulée")]
STATUS_LABELS = dict(STATUSES)
REFUND_CHOICES = [("", "Selon la règle de la prestation"), ("credit", "Avoir sur la prochaine facture"),
                  ("refund", "Remboursement"), ("none", "Sans remboursement")]
MAX_BULK = 100


def _prestation_rules() -> dict[str, dict]:
    return {p["id"]: p for p in prestations()}


def refund_rule_words(prestation: dict | None) -> str:
    """What accepting a cancellation does by default for this prestation."""
    if not prestation:
        return ""
    if prestation.get("payment_mode") == "end_of_month":
        return "Facturé en fin de mois : la date ne sera pas facturée"
    refund = rules.REFUND_LABELS.get(prestation.get("refund_on_cancellation"), "avoir")
    return "Payé à la réservation : " + refund.lower()


def _who(booking: dict) -> str:
    """« Léa Martin, Repas du mardi 9 mars 2027 »."""
    return (f"{booking.get('child_name') or 'l’enfant'}, {booking.get('prestation_label') or ''} "
            f"du {day_words(booking.get('session_date'))}")


# --- cancellation requests ------------------------------------------------------------------------------
def _render_cancellations(errors=None, summary=None, values=None, status: int = 200):
    page, per_page = page_args()
    result = clients.booking().get("/internal/agent/cancellation-requests",
                                   params={"page": page, "per_page": per_page}, as_agent=True)
    found = _prestation_rules()
    return render_template("agent/reservations/annulations.html", commune=auth.active_commune(),
                           items=result.get("items") or [], total=int(result.get("total") or 0), page=page,
                           pages=pages_of(result), prestations=found, rule_words=refund_rule_words,
                           names=dict(prestation_choices()),
                           refunds=REFUND_CHOICES, errors=errors or {}, summary=summary or [],
                           values=values or {}), status


@bp.get("/annulations")
@auth.agent_required
def cancellations():
    return _render_cancellations()


def _decide_cancellation(booking_id: str, body: dict) -> dict:
    return clients.booking().post(
        clients.internal_path("/internal/agent/cancellation-requests/{}/decision", booking_id), json=body,
        as_agent=True)


@bp.post("/annulations/<booking_id>")
@auth.agent_required
def decide_cancellation(booking_id: str):
    decision = request.form.get("decision")
    message = (request.form.get("message") or "").strip()[:1000]
    refund = request.form.get("refund") or ""
    field = f"message-{booking_id}"
    if decision not in ("accept", "refuse") or refund not in dict(REFUND_CHOICES):
        raise ServiceError(400, "Choisissez d'accepter ou de refuser l'annulation.")
    if decision == "refuse" and not message:
        errors = {field: "Expliquez le refus à la famille : ce message lui est transmis."}
        return _render_cancellations(errors, summary_of(errors), {field: message}, 422)
    body = {"decision": decision, **({"refund": refund} if refund and decision == "accept" else {}),
            **({"message": message} if message else {})}
    try:
        booking = _decide_cancellation(booking_id, body)
    except ServiceError as exc:
        errors, extra = form_refusal(exc)
        errors = {field if k == "message" else k: v for k, v in errors.items()}
        return _render_cancellations(errors, summary_of(errors, extra), {field: message}, exc.status)
    done = "Annulation acceptée : " if decision == "accept" else "Annulation refusée : "
    flash(done + _who(booking) + ".", "success")
    return redirect(url_for("agent_reservations.cancellations"))


@bp.post("/annulations/selection")
@auth.agent_required
def accept_cancellations():
    """Bulk: accept the ticked requests, each refunded per its prestation's rule."""
    chosen = [b for b in request.form.getlist("booking") if b][:MAX_BULK]
    if not chosen:
        return _render_cancellations({}, [(None, "Cochez au moins une demande d'annulation à accepter.")], status=422)
    accepted, failed = 0, []
    for booking_id in chosen:
        try:
            _decide_cancellation(booking_id, {"decision": "accept"})
            accepted += 1
        except ServiceError as exc:
            if exc.status not in (404, 409, 422):
                raise
            failed.append(exc.detail)
    if accepted:
        flash(f"{accepted} annulation{'s' if accepted > 1 else ''} acceptée{'s' if accepted > 1 else ''} "
              "selon la règle de chaque prestation.", "success")
    for detail in sorted(set(failed)):
        flash(f"Non traitée : {detail}", "error")
    return redirect(url_for("agent_reservations.cancellations"))


# --- waiting lists ----------------------------------------------------------------------------------------
def _waiting_filters() -> dict:
    day = parse_day(request.args.get("date"))
    return {"prestation": (request.args.get("prestation") or "")[:64], "date": day.isoformat() if day else ""}


@bp.get("/listes-attente")
@auth.agent_required
def waiting_lists():
    filters = _waiting_filters()
    page, per_page = page_args()
    params = {"page": page, "per_page": per_page,
              **({"prestation_id": filters["prestation"]} if filters["prestation"] else {}),
              **({"session_date": filters["date"]} if filters["date"] else {})}
    result = clients.booking().get("/internal/agent/waiting-list", params=params, as_agent=True)
    items = result.get("items") or []
    # Rank in each date's queue (first come first), for the children still waiting.
    rank: dict[tuple, int] = {}
    for item in items if page == 1 else []:
        if item.get("status") == "waiting":
            key = (item["prestation_id"], item["session_date"])
            rank[key] = rank.get(key, 0) + 1
            item["rank"] = rank[key]
    choices = prestation_choices()
    return render_template("agent/reservations/listes_attente.html", commune=auth.active_commune(), items=items,
                           total=int(result.get("total") or 0), page=page, pages=pages_of(result), filters=filters,
                           choices=choices, names=dict(choices),
                           pending=sum(1 for i in items if i.get("status") == "pending_agent"))


@bp.post("/listes-attente/<booking_id>")
@auth.agent_required
def decide_waiting(booking_id: str):
    decision = request.form.get("decision")
    if decision not in ("confirm", "decline"):
        raise ServiceError(400, "Choisissez de confirmer ou de refuser la place.")
    try:
        booking = clients.booking().post(
            clients.internal_path("/internal/agent/waiting-list/{}/decision", booking_id),
            json={"decision": decision}, as_agent=True)
    except ServiceError as exc:
        if exc.status != 409:
            raise
        flash(exc.detail, "error")
        return redirect(url_for("agent_reservations.waiting_lists"))
    flash(("Place confirmée (la famille est prévenue) : " if decision == "confirm"
           else "Place refusée, proposée à l'enfant suivant : ") + _who(booking) + ".", "success")
    return redirect(url_for("agent_reservations.waiting_lists"))


@bp.post("/listes-attente/selection")
@auth.agent_required
def confirm_waiting():
    chosen = [b for b in request.form.getlist("booking") if b][:MAX_BULK]
    if not chosen:
        flash("Cochez au moins une place à confirmer.", "error")
        return redirect(url_for("agent_reservations.waiting_lists"))
    confirmed, failed = 0, []
    for booking_id in chosen:
        try:
            clients.booking().post(clients.internal_path("/internal/agent/waiting-list/{}/decision", booking_id),
                                   json={"decision": "confirm"}, as_agent=True)
            confirmed += 1
        except ServiceError as exc:
            if exc.status not in (404, 409):
                raise
            failed.append(exc.detail)
    if confirmed:
        flash(f"{confirmed} place{'s' if confirmed > 1 else ''} confirmée{'s' if confirmed > 1 else ''} "
              "(les familles sont prévenues).", "success")
    for detail in sorted(set(failed)):
        flash(f"Non traitée : {detail}", "error")
    return redirect(url_for("agent_reservations.waiting_lists"))


# --- deadline overrides ----------------------------------------------------------------------------------
OVERRIDE_FIELDS = ("family_id", "prestation_id", "session_date", "reason")


def _render_overrides(values=None, errors=None, summary=None, status: int = 200):
    page, per_page = page_args()
    result = clients.booking().get("/internal/agent/deadline-overrides", params={"page": page, "per_page": per_page},
                                   as_agent=True)
    q = (request.values.get("q") or "").strip()[:100]
    found = search_children(q, 20)["items"] if q else []
    families = []  # one choice per family (the override is the family's), named by its children
    for child in found:
        entry = next((f for f in families if f["family_id"] == child["family_id"]), None)
        if entry is None:
            families.append({"family_id": child["family_id"], "names": [child_name(child)]})
        else:
            entry["names"].append(child_name(child))
    choices = prestation_choices()
    return render_template("agent/reservations/derogations.html", commune=auth.active_commune(),
                           items=result.get("items") or [], total=int(result.get("total") or 0), page=page,
                           pages=pages_of(result), q=q, families=families, choices=choices, names=dict(choices),
                           values=values or {name: "" for name in OVERRIDE_FIELDS}, errors=errors or {},
                           summary=summary or []), status


@bp.get("/derogations")
@auth.agent_required
def overrides():
    return _render_overrides()


@bp.post("/derogations")
@auth.agent_required
def create_override():
    values = {name: (request.form.get(name) or "").strip()[:500] for name in OVERRIDE_FIELDS}
    errors = {}
    day = parse_day(values["session_date"])
    if not values["family_id"]:
        errors["family_id"] = "Cherchez l'enfant puis choisissez sa famille."
    if not values["prestation_id"]:
        errors["prestation_id"] = "Choisissez la prestation."
    if day is None:
        errors["session_date"] = "Indiquez la date de la séance (JJ/MM/AAAA)."
    if not values["reason"]:
        errors["reason"] = "Indiquez le motif de la dérogation : il est conservé dans le journal."
    if errors:
        return _render_overrides(values, errors, summary_of(errors), 422)
    try:
        clients.booking().post("/internal/agent/deadline-overrides",
                               json={**values, "session_date": day.isoformat()}, as_agent=True,
                               idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        if exc.status == 404:  # a family or prestation not of this commune: said on the form
            errors, extra = {}, [exc.detail]
        else:
            errors, extra = form_refusal(exc)
        return _render_overrides(values, errors, summary_of(errors, extra), exc.status)
    flash(f"Dérogation accordée pour le {day_words(day)} : la famille peut réserver ou annuler cette séance "
          "malgré le délai.", "success")
    return redirect(url_for("agent_reservations.overrides"))


# --- bookings of a period ---------------------------------------------------------------------------------
def _range_args(default_days: int = 6) -> tuple[dt.date, dt.date, dict]:
    errors = {}
    first_text, last_text = request.args.get("first"), request.args.get("last")
    first = parse_day(first_text) or today()
    last = parse_day(last_text) or first + dt.timedelta(days=default_days)
    if first_text and parse_day(first_text) is None:
        errors["first"] = "Indiquez le premier jour (JJ/MM/AAAA)."
    if last_text and parse_day(last_text) is None:
        errors["last"] = "Indiquez le dernier jour (JJ/MM/AAAA)."
    if last < first:
        errors["last"] = "Le dernier jour doit suivre le premier."
    elif (last - first).days >= 366:
        errors["last"] = "Choisissez une période d'au plus un an."
    return first, last, errors


@bp.get("/suivi")
@auth.agent_required
def bookings():
    first, last, errors = _range_args()
    filters = {"prestation": (request.args.get("prestation") or "")[:64],
               "status": request.args.get("status") if request.args.get("status") in STATUS_LABELS else ""}
    page, per_page = page_args(100)
    result = {"items": [], "total": 0, "per_page": per_page}
    if not errors:
        params = {"first": first.isoformat(), "last": last.isoformat(), "page": page, "per_page": per_page,
                  **({"prestation_id": filters["prestation"]} if filters["prestation"] else {}),
                  **({"status": filters["status"]} if filters["status"] else {})}
        result = clients.booking().get("/internal/agent/bookings", params=params, as_agent=True)
    query = {k: v for k, v in {"first": first.isoformat(), "last": last.isoformat(), **filters}.items() if v}
    choices = prestation_choices()
    return render_template("agent/reservations/suivi.html", commune=auth.active_commune(), names=dict(choices),
                           items=result.get("items") or [], total=int(result.get("total") or 0), page=page,
                           pages=pages_of(result), first=first, last=last, filters=filters, query=query,
                           statuses=STATUSES, status_labels=STATUS_LABELS, choices=choices,
                           errors=errors, summary=summary_of(errors)), 422 if errors else 200


# --- audit trail --------------------------------------------------------------------------------------------
ACTIONS = {
    "calendar.updated": "Calendrier de la commune modifié",
    "service.created": "Service créé", "service.updated": "Service renommé", "service.deleted": "Service supprimé",
    "prestation.created": "Prestation créée", "prestation.updated": "Prestation modifiée",
    "prestation.deleted": "Prestation supprimée", "sessions.generated": "Dates d'ouverture générées",
    "session.capacity_set": "Capacité d'une date modifiée", "closure.created": "Fermeture ajoutée",
    "closure.deleted": "Fermeture supprimée", "enrolment.created": "Inscription",
    "enrolment.fixed_days_booked": "Jours fixes réservés", "enrolment.deleted": "Inscription supprimée",
    "attendance.recorded": "Pointage", "cancellation.accepted": "Annulation acceptée",
    "cancellation.refused": "Annulation refusée", "waiting_list.confirmed": "Place confirmée (liste d'attente)",
    "waiting_list.declined": "Place refusée (liste d'attente)",
    "waiting_list.place_held": "Place libérée, en attente de confirmation",
    "deadline.overridden": "Dérogation au délai", "payment.after_expiry": "Paiement reçu après expiration du panier",
    "absence_justification.too_late": "Justificatif d'absence sur une période facturée",
}
OUTCOME_WORDS = {"confirmed": "confirmées", "waiting_listed": "sur liste d'attente", "held": "en attente de paiement"}
DETAIL_WORDS = [("label", "Libellé"), ("session_date", "Date"), ("closed_on", "Date"), ("first", "Du"),
                ("last", "Au"), ("count", "Dates"), ("changed", "Enfants pointés"), ("capacity", "Capacité"),
                ("refund", "Remboursement"), ("reason", "Motif"), ("message", "Message"), ("zone", "Zone")]


def audit_details(entry: dict, prestation_names: dict[str, str]) -> list[tuple[str, str]]:
    """The entry's details an agent can read (ids left out, dates and codes in French)."""
    details = entry.get("details") or {}
    shown = []
    if details.get("prestation_id") in prestation_names:
        shown.append(("Prestation", prestation_names[details["prestation_id"]]))
    for key, label in DETAIL_WORDS:
        value = details.get(key)
        if value in (None, ""):
            continue
        if key in ("session_date", "closed_on", "first", "last"):
            value = day_words(str(value)[:10])
        elif key == "refund":
            value = rules.REFUND_LABELS.get(value, value)
        shown.append((label, str(value)))
    if details.get("fixed_weekdays"):
        shown.append(("Jours fixes", rules.weekdays_words(details["fixed_weekdays"])))
    if isinstance(details.get("outcomes"), dict):  # {"<prestation> <outcome>": count}
        totals: dict[str, int] = {}
        for key, count in details["outcomes"].items():
            outcome = str(key).rsplit(" ", 1)[-1]
            word = "refusées" if outcome.startswith("refused") else OUTCOME_WORDS.get(outcome, outcome)
            totals[word] = totals.get(word, 0) + int(count or 0)
        shown.append(("Dates", ", ".join(f"{n} {word}" for word, n in totals.items())))
    return shown


def _actor(actor: str | None, me: str | None) -> str:
    if actor == "system":
        return "Automatique"
    return "Vous" if actor == me else "Un agent"


@bp.get("/journal")
@auth.agent_required
def audit():
    page, per_page = page_args()
    result = clients.booking().get("/internal/agent/audit", params={"page": page, "per_page": per_page},
                                   as_agent=True)
    names = dict(prestation_choices())
    me = (auth.current_user() or {}).get("sub")
    items = [{**entry, "label": ACTIONS.get(entry.get("action"), entry.get("action")),
              "who": _actor(entry.get("actor"), me), "shown": audit_details(entry, names)}
             for entry in result.get("items") or []]
    return render_template("agent/reservations/journal.html", commune=auth.active_commune(), items=items,
                           total=int(result.get("total") or 0), page=page, pages=pages_of(result))


# --- CSV exports ----------------------------------------------------------------------------------------------
EXPORT_READ_TIMEOUT = 60.0  # a year of a commune's bookings takes longer to write than a page
EXPORTS = {"reservations": ("/internal/agent/exports/bookings.csv", "reservations"),
           "pointage": ("/internal/agent/exports/attendance.csv", "pointage")}


@bp.get("/exports")
@auth.agent_required
def exports():
    month = today().replace(day=1)
    first = parse_day(request.args.get("first")) or month
    last = parse_day(request.args.get("last")) or shift_month(month, 1) - dt.timedelta(days=1)
    return render_template("agent/reservations/exports.html", commune=auth.active_commune(), first=first, last=last,
                           errors={}, summary=[])


@bp.get("/exports/<kind>.csv")
@auth.agent_required
def export_csv(kind: str):
    if kind not in EXPORTS:
        raise ServiceError(404, "Cet export n'existe pas.")
    first, last, errors = _range_args(0)
    if errors or not request.args.get("first") or not request.args.get("last"):
        errors = errors or {"first": "Indiquez le premier et le dernier jour de la période."}
        return render_template("agent/reservations/exports.html", commune=auth.active_commune(), first=first,
                               last=last, errors=errors, summary=summary_of(errors)), 422
    path, name = EXPORTS[kind]
    resp = clients.booking().get(path, params={"first": first.isoformat(), "last": last.isoformat()},
                                 as_agent=True, raw=True, timeout=(clients.CONNECT_TIMEOUT, EXPORT_READ_TIMEOUT))
    commune = auth.active_commune() or {}
    filename = f"{name}-{commune.get('slug', 'commune')}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(csvexport.made_safe(resp.content.decode("utf-8-sig", errors="replace")), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
