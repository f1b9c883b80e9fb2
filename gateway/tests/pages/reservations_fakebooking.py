"""A fake of booking's parent API (services/booking/booking/openapi.yaml, /internal/parent/*),
for the booking pages' tests: same paths, same JSON shapes, tenancy by the service token's
family, and state the tests set directly (each date's state, a line's outcome at validation).

It checks what the gateway sends: a valid service token for role `parent` and its family, and
the Idempotency-Key of "Valider" (the same key answers the same, as booking does).
"""
from __future__ import annotations

import calendar as month_days
import datetime as dt
import secrets
from dataclasses import dataclass, field

from flask import Flask, jsonify, request

from servicekit import tokens

FAMILY = "fam-1"
OTHER_FAMILY = "fam-2"
LEA, HUGO, OTHER_CHILD = "child-lea", "child-hugo", "child-other"
CANTINE, ALSH = "svc-cantine", "svc-alsh"
REPAS, MERCREDI = "prest-repas", "prest-mercredi"

LABELS = {
    "bookable": "Réservable", "booked": "Réservé", "waiting_list": "Sur liste d'attente", "full": "Complet",
    "closed": "Fermé", "past_deadline": "Délai dépassé", "present": "Présent",
    "absent_justified": "Absent (absence justifiée)", "absent_unjustified": "Absent (absence non justifiée)",
    "cancelled": "Annulé", "awaiting_payment": "Réservé, en attente de paiement",
    "cancellation_requested": "Annulation demandée",
}
OUTCOME_LABELS = {"confirmed": "Réservation confirmée", "held": "Place réservée, en attente de paiement",
                  "waiting_listed": "Inscrit sur la liste d'attente", "cancelled": "Annulation acceptée",
                  "cancellation_requested": "Demande d'annulation transmise au service", "refused": "Refusé"}
REASON_LABELS = {"full": "Complet", "booking_deadline_passed": "Le délai de réservation est dépassé",
                 "school_holiday": "Vacances scolaires", "public_holiday": "Jour férié"}


def _prestation(pid, service_id, label, mode, price_ref, weekdays):
    return {"id": pid, "service_id": service_id, "code": pid, "label": label, "payment_mode": mode,
            "payment_mode_label": "Payé à la réservation" if mode == "prepaid" else "Facturé en fin de mois",
            "price_ref": price_ref, "starts_at": "11:45", "ends_at": "13:30", "weekdays": weekdays}


@dataclass
class FakeBooking:
    secret: str
    children: dict = field(default_factory=lambda: {
        LEA: {"child_id": LEA, "family_id": FAMILY, "given_name": "Léa", "family_name": "Martin"},
        HUGO: {"child_id": HUGO, "family_id": FAMILY, "given_name": "Hugo", "family_name": "Martin"},
        OTHER_CHILD: {"child_id": OTHER_CHILD, "family_id": OTHER_FAMILY, "given_name": "Zoé", "family_name": "Durand"},
    })
    prestations: dict = field(default_factory=lambda: {
        REPAS: _prestation(REPAS, CANTINE, "Repas", "end_of_month", "CANTINE-REPAS", [0, 1, 3, 4]),
        MERCREDI: _prestation(MERCREDI, ALSH, "Journée (avec repas)", "prepaid", "ALSH-JOURNEE", [2]),
    })
    services: dict = field(default_factory=lambda: {
        CANTINE: {"id": CANTINE, "code": "cantine", "label": "Restauration scolaire", "commune": "heillecourt"},
        ALSH: {"id": ALSH, "code": "alsh", "label": "Accueil de loisirs du mercredi", "commune": "heillecourt"},
    })
    enrolled: dict = field(default_factory=lambda: {CANTINE: [LEA, HUGO], ALSH: [LEA]})
    # (child, prestation, date iso) -> state code; any other opening date is "bookable".
    states: dict = field(default_factory=dict)
    closures: dict = field(default_factory=dict)          # date iso -> reason code
    cart: dict = field(default_factory=lambda: {"state": "open", "lines": []})
    outcomes: dict = field(default_factory=dict)           # (child, prestation, date) -> (outcome, reason)
    idempotency: dict = field(default_factory=dict)
    validations: int = 0
    feeds: dict = field(default_factory=dict)              # child -> token
    refuse: dict = field(default_factory=dict)             # path -> (status, detail) answered once
    calls: list = field(default_factory=list)

    # --- helpers ---------------------------------------------------------------------------
    def caller(self) -> tokens.Caller:
        header = request.headers.get("Authorization", "")
        return tokens.verify(header.removeprefix("Bearer "), "booking", self.secret)

    def own_child(self, child_id: str) -> dict | None:
        child = self.children.get(child_id)
        return child if child and child["family_id"] == self.caller().family_id else None

    def day(self, child_id: str, prestation: dict, day: dt.date) -> dict:
        iso = day.isoformat()
        closure = None
        if day.weekday() not in prestation["weekdays"]:
            closure = "not_an_opening_weekday"
        elif iso in self.closures:
            closure = self.closures[iso]
        if closure:
            label = {"not_an_opening_weekday": "Fermé : Pas d'accueil ce jour de la semaine"}.get(
                closure, f"Fermé : {REASON_LABELS.get(closure, closure)}")
            return {"date": iso, "state": "closed", "state_label": "Fermé", "label": label, "closure": closure,
                    "can_book": False, "can_cancel": False, "booking_deadline": None,
                    "cancellation_deadline": None, "places_left": None, "price_ref": prestation["price_ref"],
                    "booking_opens_at": None}
        state = self.states.get((child_id, prestation["id"], iso), "bookable")
        can_book = state in ("bookable", "cancelled", "full")
        can_cancel = state == "booked"
        deadline = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8), dt.timezone.utc).isoformat()
        return {"date": iso, "state": state, "state_label": LABELS[state], "label": LABELS[state], "closure": None,
                "can_book": can_book, "can_cancel": can_cancel,
                "booking_deadline": deadline if can_book else None,
                "cancellation_deadline": deadline if can_cancel else None,
                "places_left": 0 if state == "full" else 3, "price_ref": prestation["price_ref"],
                "booking_opens_at": None}

    def line_view(self, line: dict) -> dict:
        child, prestation = self.children[line["child_id"]], self.prestations[line["prestation_id"]]
        outcome = line.get("outcome")
        reason = line.get("reason")
        label = OUTCOME_LABELS.get(outcome) if outcome else None
        if label and reason:
            label = f"{label} : {REASON_LABELS.get(reason, reason)}"
        return {**line, "child_name": f"{child['given_name']} {child['family_name']}",
                "prestation_label": prestation["label"], "service_id": prestation["service_id"],
                "payment_mode": prestation["payment_mode"], "price_ref": prestation["price_ref"],
                "outcome": outcome, "outcome_label": label, "reason": reason}

    def cart_view(self) -> dict:
        labels = {"open": "En cours", "awaiting_payment": "En attente de paiement", "validated": "Validé",
                  "failed": "Paiement non effectué", "expired": "Expiré : les places ont été libérées"}
        return {"id": self.cart.get("id"), "state": self.cart["state"], "state_label": labels[self.cart["state"]],
                "commune": "heillecourt" if self.cart["lines"] else None, "validated_at": None,
                "hold_expires_at": self.cart.get("hold_expires_at"),
                "lines": [self.line_view(line) for line in self.cart["lines"]], "skipped": []}

    def plan(self, body: dict) -> tuple[list, list]:
        prestation = self.prestations[body["prestation_id"]]
        first, last = dt.date.fromisoformat(body["first"]), dt.date.fromisoformat(body["last"])
        lines, skipped = [], []
        day = first
        while day <= last:
            if day.weekday() in body["weekdays"] and day.weekday() in prestation["weekdays"]:
                iso = day.isoformat()
                if iso in self.closures:
                    reason = self.closures[iso]
                    skipped.append({"session_date": iso, "reason": reason, "reason_label": REASON_LABELS[reason]})
                else:
                    lines.append({"child_id": body["child_id"], "prestation_id": prestation["id"], "session_date": iso,
                                  "action": body.get("action", "book")})
            day += dt.timedelta(days=1)
        return lines, skipped


def problem(status: int, detail: str, **extra):
    resp = jsonify({"type": "about:blank", "title": "Erreur", "status": status, "detail": detail, **extra})
    resp.status_code = status
    resp.content_type = "application/problem+json"
    return resp


def make_app(fake: FakeBooking) -> Flask:
    app = Flask("fakebooking")

    @app.before_request
    def _auth():
        fake.calls.append((request.method, request.path, request.headers.get("Idempotency-Key")))
        try:
            caller = fake.caller()
        except tokens.InvalidToken:
            return problem(401, "Jeton de service invalide.")
        if request.path.startswith("/internal/feeds/"):
            return None
        if caller.role != "parent" or not caller.family_id:
            return problem(403, "Réservé aux parents.")
        refused = fake.refuse.pop(request.path, None)
        if refused:
            return problem(refused[0], refused[1], **(refused[2] if len(refused) > 2 else {}))
        return None

    @app.get("/internal/parent/children")
    def children():
        family = fake.caller().family_id
        return {"items": [c for c in fake.children.values() if c["family_id"] == family]}

    @app.get("/internal/parent/services")
    def services():
        family = fake.caller().family_id
        items = []
        for sid, service in fake.services.items():
            prestations = [p for p in fake.prestations.values() if p["service_id"] == sid]
            enrolments = [{"child_id": c, "first": "2026-09-01", "last": "2027-07-03", "fixed_weekdays": []}
                          for c in fake.enrolled.get(sid, []) if fake.children[c]["family_id"] == family]
            items.append({**service, "prestations": prestations, "enrolments": enrolments})
        return {"items": items, "page": 1, "per_page": 200, "total": len(items)}

    @app.get("/internal/parent/children/<child_id>/calendar")
    def month(child_id):
        child = fake.own_child(child_id)
        service = fake.services.get(request.args.get("service_id", ""))
        if child is None or service is None:
            return problem(404, "Cet enfant est introuvable.")
        year, number = (int(x) for x in request.args["month"].split("-"))
        if year > 2030:
            return problem(422, "Ce mois est en dehors du calendrier de la commune.")
        days = [dt.date(year, number, d) for d in range(1, month_days.monthrange(year, number)[1] + 1)]
        prestations = [{**p, "days": [fake.day(child_id, p, d) for d in days]}
                       for p in fake.prestations.values() if p["service_id"] == service["id"]]
        return {"child": child, "service": service, "month": request.args["month"], "prestations": prestations}

    @app.post("/internal/parent/period-preview")
    def preview():
        body = request.get_json()
        if fake.own_child(body["child_id"]) is None:
            return problem(404, "Cet enfant est introuvable.")
        lines, skipped = fake.plan(body)
        return {"lines": lines, "skipped": skipped}

    @app.get("/internal/parent/cart")
    def get_cart():
        return fake.cart_view()

    @app.post("/internal/parent/cart/lines")
    def add_lines():
        if fake.cart["state"] == "awaiting_payment":
            return problem(409, "Votre panier attend son paiement : payez-le ou attendez qu'il expire avant de le modifier.")
        for line in request.get_json()["lines"]:
            if fake.own_child(line["child_id"]) is None:
                return problem(404, "Cet enfant est introuvable.")
            key = (line["child_id"], line["prestation_id"], line["session_date"])
            fake.cart["lines"] = [l for l in fake.cart["lines"]
                                  if (l["child_id"], l["prestation_id"], l["session_date"]) != key]
            fake.cart["lines"].append({k: line[k] for k in ("child_id", "prestation_id", "session_date", "action")})
        fake.cart.setdefault("id", "cart-1")
        return fake.cart_view()

    @app.post("/internal/parent/cart/lines/remove")
    def remove_line():
        body = request.get_json()
        key = (body["child_id"], body["prestation_id"], body["session_date"])
        fake.cart["lines"] = [l for l in fake.cart["lines"]
                              if (l["child_id"], l["prestation_id"], l["session_date"]) != key]
        return fake.cart_view()

    @app.post("/internal/parent/cart/validate")
    def validate():
        key = request.headers.get("Idempotency-Key")
        if key and key in fake.idempotency:
            return fake.idempotency[key]
        if not fake.cart["lines"]:
            return problem(422, "Le panier est vide.")
        fake.validations += 1
        for line in fake.cart["lines"]:
            outcome, reason = fake.outcomes.get((line["child_id"], line["prestation_id"], line["session_date"]),
                                                ("confirmed", None))
            line["outcome"], line["reason"] = outcome, reason
        outcomes = {l["outcome"] for l in fake.cart["lines"]}
        if outcomes == {"refused"}:
            return fake.cart_view()
        if "held" in outcomes:
            fake.cart["state"] = "awaiting_payment"
            fake.cart["hold_expires_at"] = "2026-12-01T15:20:00+00:00"
        else:
            fake.cart["state"] = "validated"
        answer = fake.cart_view()
        if key:
            fake.idempotency[key] = answer
        return answer

    @app.post("/internal/parent/cart/abandon")
    def abandon():
        if fake.cart["state"] == "failed":
            return fake.cart_view()  # a second click: the cart as it is
        if fake.cart["state"] != "awaiting_payment":
            return problem(409, "Votre panier n'attend aucun paiement : il n'y a rien à abandonner.")
        fake.cart["state"] = "failed"
        fake.cart.pop("hold_expires_at", None)
        return fake.cart_view()

    @app.route("/internal/parent/children/<child_id>/feed", methods=["GET", "POST", "DELETE"])
    def feed(child_id):
        if fake.own_child(child_id) is None:
            return problem(404, "Cet enfant est introuvable.")
        if request.method == "POST":
            fake.feeds[child_id] = secrets.token_urlsafe(32)
            return {"active": True, "created_at": "2026-12-01T09:30:00+00:00", "token": fake.feeds[child_id]}, 201
        if request.method == "DELETE":
            fake.feeds.pop(child_id, None)
            return "", 204
        active = child_id in fake.feeds
        return {"active": active, "created_at": "2026-12-01T09:30:00+00:00" if active else None, "token": None}

    @app.get("/internal/feeds/<token>")
    def public_feed(token):
        if token not in fake.feeds.values():
            return problem(404, "Ce calendrier n'existe pas ou a été révoqué.")
        return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", 200, {"Content-Type": "text/calendar; charset=utf-8"}

    return app
