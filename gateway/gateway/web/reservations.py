"""The parents' booking pages ("Mes réservations"), on booking's parent API. They work without
JavaScript; static/js/reservations.js only counts the ticked dates aloud and copies links.

    /reservations                                   choose a service, then a child (or several)
    /reservations/services/<service>?enfant=&mois=  the month calendar of each chosen child
    /reservations/services/<service>/periode        period view: weekly pattern -> preview -> cart
    /reservations/panier                            the cart; remove a line; "Valider" -> result
    /reservations/agenda                            iCal feeds (reservations_feed.py)

The calendar and the period view show the family's price of each prestation, asked of billing
(reservations_prices.py; nothing shown when billing cannot say).

Every id taken from the browser goes to booking through `clients.internal_path` or a JSON
body; booking decides what the family may see and book (another family's child is a 404).
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web import reservations_view as view
from gateway.web.reservations_prices import family_prices

bp = Blueprint("reservations", __name__, url_prefix="/reservations")

MAX_CHILDREN = 8          # children shown at once on a calendar
MAX_LINES = 500           # booking's limit per request
# Statuses whose French detail belongs on the page the parent was using.
PAGE_STATUSES = (400, 409, 422, 429)
# Billing's page that takes a validated prepaid cart to online payment, when it exists.
CART_PAYMENT_ENDPOINT = "factures.cart_payment"
WEEKDAY_CHOICES = [(0, "Lundi"), (1, "Mardi"), (2, "Mercredi"), (3, "Jeudi"), (4, "Vendredi")]


def today() -> dt.date:
    return dt.datetime.now(view.PARIS).date()


@bp.app_template_filter("jour_long")
def _jour_long(value) -> str:
    day = view.parse_date(value)
    return view.day_long(day, today()) if day else ""


@bp.app_template_filter("heure")
def _heure(value) -> str:
    return view.hour(value)


@bp.app_template_filter("moment_long")
def _moment_long(value) -> str:
    return view.moment_long(value, today())


@bp.before_request
def _family_only():
    user = auth.current_user()
    if user is not None and not user.get("family_id"):
        return render_template("reservations/sans_famille.html"), 404
    return None


# --- what booking knows of the family ----------------------------------------------------------
def _services() -> list[dict]:
    return clients.booking().get("/internal/parent/services", params={"per_page": 200})["items"]


def _children() -> dict[str, dict]:
    items = clients.booking().get("/internal/parent/children")["items"]
    return {c["child_id"]: c for c in items}


def _service(services: list[dict], service_id: str) -> dict:
    found = next((s for s in services if s.get("id") == service_id), None)
    if found is None:
        raise ServiceError(404, "Ce service est introuvable.")
    return found


def _enrolled(service: dict, children: dict[str, dict]) -> list[dict]:
    ids = []
    for enrolment in service.get("enrolments") or []:
        if enrolment.get("child_id") in children and enrolment["child_id"] not in ids:
            ids.append(enrolment["child_id"])
    return [children[i] for i in ids]


def _cart() -> dict:
    return clients.booking().get("/internal/parent/cart")


def _cart_count(cart: dict) -> int:
    return len(view.cart_actions(cart))


def _name(child: dict) -> str:
    return f"{child.get('given_name') or ''} {child.get('family_name') or ''}".strip() or "Enfant"


# --- choose a service, then children ---------------------------------------------------------
@bp.get("")
@auth.login_required
def index():
    services, children, cart = _services(), _children(), _cart()
    cards = [{"service": s, "enrolled": _enrolled(s, children)} for s in services]
    return render_template("reservations/index.html", cards=cards, cart=cart, cart_count=_cart_count(cart),
                           children=list(children.values()), name=_name)


# --- the month calendar ------------------------------------------------------------------------
def _chosen_children(service: dict, children: dict[str, dict]) -> list[dict]:
    enrolled = _enrolled(service, children)
    wanted = [c for c in request.values.getlist("enfant") if c]
    if not wanted:
        return enrolled[:MAX_CHILDREN]
    chosen = []
    for child_id in wanted[:MAX_CHILDREN]:
        child = children.get(child_id)
        if child is None:
            raise ServiceError(404, "Cet enfant est introuvable.")
        if child not in chosen:
            chosen.append(child)
    return chosen


def _calendar_page(service_id: str, status: int = 200, errors=None):
    services, children = _services(), _children()
    service = _service(services, service_id)
    chosen = _chosen_children(service, children)
    month = view.parse_month(request.values.get("mois"), today())
    cart = _cart()
    in_cart = view.cart_actions(cart)
    calendars, problems = [], []
    for child in chosen:
        try:
            month_view = clients.booking().get(
                clients.internal_path("/internal/parent/children/{}/calendar", child["child_id"]),
                params={"service_id": service_id, "month": month.strftime("%Y-%m")})
        except ServiceError as exc:
            if exc.status not in (400, 422):
                raise
            problems.append(f"{_name(child)} : {exc.detail}")
            continue
        prestations = []
        for prestation in month_view.get("prestations") or []:
            weeks, weekdays = view.weeks_of(prestation, child["child_id"], in_cart, today())
            prestations.append({"p": prestation, "weeks": weeks, "weekdays": weekdays,
                                "quiet": view.quiet_weekdays(weekdays),
                                "selectable": any(d.line_value and not d.in_cart for w in weeks for d in w.days)})
        calendars.append({"child": child, "name": _name(child), "prestations": prestations})
    return render_template(
        "reservations/calendrier.html", service=service, calendars=calendars, chosen=chosen, month=month,
        prices=family_prices(service) if calendars else {},
        month_label=view.month_label(month), previous=view.shift_month(month, -1), next=view.shift_month(month, 1),
        month_name=view.month_label, problems=problems, errors=errors or [], cart=cart,
        cart_count=_cart_count(cart), awaiting_payment=cart.get("state") == "awaiting_payment",
        enrolled=_enrolled(service, children), name=_name), status


@bp.get("/services/<service_id>")
@auth.login_required
def calendar(service_id: str):
    return _calendar_page(service_id)


def _calendar_url(service_id: str) -> str:
    month = view.parse_month(request.form.get("mois"), today())
    return url_for("reservations.calendar", service_id=service_id, enfant=request.form.getlist("enfant") or None,
                   mois=month.strftime("%Y-%m"))


@bp.post("/services/<service_id>/panier")
@auth.login_required
def add_dates(service_id: str):
    """The dates ticked on the calendar become cart lines (bookings and cancellations)."""
    lines = [line for line in (view.parse_line(v) for v in request.form.getlist("ligne")) if line]
    if not lines:
        return _calendar_page(service_id, 422, ["Cochez au moins une date à réserver ou à annuler."])
    if len(lines) > MAX_LINES:
        return _calendar_page(service_id, 422, [f"Cochez au plus {MAX_LINES} dates à la fois."])
    try:
        clients.booking().post("/internal/parent/cart/lines", json={"lines": lines})
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _calendar_page(service_id, exc.status, [exc.detail])
    flash(_added_message(lines), "success")
    return redirect(_calendar_url(service_id))


def _added_message(lines: list[dict]) -> str:
    booked = sum(1 for line in lines if line["action"] == "book")
    cancelled = len(lines) - booked
    parts = []
    if booked:
        parts.append(f"{booked} réservation{'s' if booked > 1 else ''}")
    if cancelled:
        parts.append(f"{cancelled} annulation{'s' if cancelled > 1 else ''}")
    return (f"{' et '.join(parts)} ajoutée{'s' if len(lines) > 1 else ''} à votre panier. "
            "Validez le panier pour les enregistrer.")


# --- period view -------------------------------------------------------------------------------
def _parse_day(value: str) -> dt.date | None:
    value = (value or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _period_form(service: dict, enrolled: list[dict]) -> tuple[dict, dict]:
    """The submitted period (values to show again) and its errors by field id."""
    values = {"enfant": request.values.getlist("enfant"), "prestation": request.values.get("prestation", ""),
              "jour": request.values.getlist("jour"), "debut": request.values.get("debut", "").strip()[:10],
              "fin": request.values.get("fin", "").strip()[:10],
              "action": "cancel" if request.values.get("action") == "cancel" else "book"}
    errors = {}
    known_children = {c["child_id"] for c in enrolled}
    values["enfant"] = [c for c in values["enfant"] if c in known_children]
    if not values["enfant"]:
        errors["enfants"] = "Choisissez au moins un enfant."
    if values["prestation"] not in {p.get("id") for p in service.get("prestations") or []}:
        errors["prestation"] = "Choisissez une prestation."
    days = sorted({int(d) for d in values["jour"] if d in {"0", "1", "2", "3", "4"}})
    values["jour"] = [str(d) for d in days]
    if not days:
        errors["jours"] = "Choisissez au moins un jour de la semaine."
    first, last = _parse_day(values["debut"]), _parse_day(values["fin"])
    if first is None:
        errors["debut"] = "Indiquez la date de début, par exemple 07/09/2026."
    if last is None:
        errors["fin"] = "Indiquez la date de fin, par exemple 18/10/2026."
    if first and last and last < first:
        errors["fin"] = "La date de fin doit être après la date de début."
    elif first and last and (last - first).days > 366:
        errors["fin"] = "Choisissez une période d'au plus un an."
    values["first"], values["last"], values["weekdays"] = first, last, days
    # Date inputs take ISO dates; what could not be read is shown back as typed.
    values["debut"] = first.isoformat() if first else values["debut"]
    values["fin"] = last.isoformat() if last else values["fin"]
    return values, errors


def _period_body(values: dict, child_id: str) -> dict:
    return {"child_id": child_id, "prestation_id": values["prestation"], "weekdays": values["weekdays"],
            "first": values["first"].isoformat(), "last": values["last"].isoformat(), "action": values["action"]}


def _previews(values: dict, children: dict[str, dict]) -> list[dict]:
    out = []
    for child_id in values["enfant"]:
        plan = clients.booking().post("/internal/parent/period-preview", json=_period_body(values, child_id))
        lines = plan.get("lines") or []
        out.append({"child": children[child_id], "name": _name(children[child_id]), "lines": lines,
                    "by_month": view.dates_by_month([line["session_date"] for line in lines], today()),
                    "skipped": view.skipped_by_reason(plan.get("skipped") or [], today()),
                    "skipped_count": len(plan.get("skipped") or [])})
    return out


def _render_period(service, enrolled, values, errors, previews=None, status=200):
    return render_template("reservations/periode.html", service=service, enrolled=enrolled, values=values,
                           errors=errors, previews=previews, weekday_choices=WEEKDAY_CHOICES, name=_name,
                           prices=family_prices(service),
                           total=sum(len(p["lines"]) for p in previews or [])), status


@bp.get("/services/<service_id>/periode")
@auth.login_required
def period(service_id: str):
    services, children = _services(), _children()
    service = _service(services, service_id)
    enrolled = _enrolled(service, children)
    if not request.args.get("voir"):
        prestations = service.get("prestations") or []
        values = {"enfant": [c["child_id"] for c in enrolled], "jour": [],
                  "prestation": prestations[0]["id"] if len(prestations) == 1 else "",
                  "debut": "", "fin": "", "action": "book"}
        return _render_period(service, enrolled, values, {})
    values, errors = _period_form(service, enrolled)
    if errors:
        return _render_period(service, enrolled, values, errors, status=422)
    try:
        previews = _previews(values, children)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _render_period(service, enrolled, values, {"periode": exc.detail}, status=exc.status)
    return _render_period(service, enrolled, values, {}, previews)


@bp.post("/services/<service_id>/periode")
@auth.login_required
def add_period(service_id: str):
    """The previewed period, planned again now, goes to the cart in one call (all or nothing)."""
    services, children = _services(), _children()
    service = _service(services, service_id)
    enrolled = _enrolled(service, children)
    values, errors = _period_form(service, enrolled)
    if errors:
        return _render_period(service, enrolled, values, errors, status=422)
    try:
        previews = _previews(values, children)
        lines = [line for p in previews for line in p["lines"]]
        if not lines or len(lines) > MAX_LINES:
            problem = ("Aucune date de cette période ne peut être ajoutée au panier." if not lines else
                       f"C'est plus de {MAX_LINES} dates à la fois : choisissez une période plus courte.")
            return _render_period(service, enrolled, values, {"periode": problem}, previews, status=422)
        clients.booking().post("/internal/parent/cart/lines", json={"lines": lines})
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _render_period(service, enrolled, values, {"periode": exc.detail}, status=exc.status)
    flash(_added_message(lines), "success")
    return redirect(url_for("reservations.cart"))


# --- the cart ----------------------------------------------------------------------------------
def cart_payment_url(cart: dict) -> str | None:
    """Billing's page paying a validated prepaid cart, once billing's pages exist."""
    if cart.get("id") and CART_PAYMENT_ENDPOINT in current_app.view_functions:
        return url_for(CART_PAYMENT_ENDPOINT, cart_id=cart["id"])
    return None


def _render_cart(cart: dict, status: int = 200, errors=None):
    lines = cart.get("lines") or []
    return render_template("reservations/panier.html", cart=cart, groups=view.grouped_lines(lines, today()),
                           errors=errors or [], payment_url=cart_payment_url(cart),
                           refused=[line for line in lines if line.get("outcome") == "refused"],
                           hold_until=view.until_moment(cart.get("hold_expires_at"), today())), status


@bp.get("/panier")
@auth.login_required
def cart():
    return _render_cart(_cart())


@bp.post("/panier/retirer")
@auth.login_required
def remove_line():
    line = view.parse_line(request.form.get("ligne", ""))
    if line is None:
        return _render_cart(_cart(), 400, ["Cette ligne du panier est introuvable."])
    line.pop("action")
    try:
        clients.booking().post("/internal/parent/cart/lines/remove", json=line)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _render_cart(_cart(), exc.status, [exc.detail])
    flash("La ligne est retirée du panier.", "success")
    return redirect(url_for("reservations.cart"))


@bp.post("/panier/valider")
@auth.login_required
def validate():
    """"Valider": the answer lists each line's outcome. Sent with the form's Idempotency-Key, so
    a second click (or the browser sending the form again) shows the same answer, booking once."""
    try:
        done = clients.booking().post("/internal/parent/cart/validate", idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _render_cart(_cart(), exc.status, [exc.detail])
    lines = done.get("lines") or []
    if done.get("state") == "open":
        # Every line was refused: the cart stays open with the reasons.
        return _render_cart(done, 422, ["Aucune ligne du panier n'a pu être enregistrée : voyez la raison de chacune."])
    return render_template("reservations/resultat.html", cart=done, outcomes=view.by_outcome(lines, today()),
                           payment_url=cart_payment_url(done),
                           hold_until=view.until_moment(done.get("hold_expires_at"), today()))
