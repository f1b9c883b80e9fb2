"""A fake of booking's agent API (services/booking/booking/openapi.yaml, /internal/agent/*) for
the agents' booking pages: same paths and JSON shapes, tenancy by the service token's commune
(another commune's rows answer 404, a parent's token 403), and the refusals booking makes
(duplicate code 409, rule problems 422 joined by « ; », refusal without a message 422, locked
period 409, future pointage 422). It records what the gateway sent (`calls`, `bodies`).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from flask import Flask, jsonify, request

from servicekit import tokens

HOME, OTHER = "heillecourt", "ludres"
CANTINE, PERI = "svc-cantine", "svc-peri"
REPAS, SOIR, LUDRES_REPAS = "prest-repas", "prest-soir", "prest-ludres"
LEA, HUGO, ZOE, OTHER_CHILD = "child-lea", "child-hugo", "child-zoe", "child-ludres"
FAMILY, FAMILY2 = "fam-martin", "fam-durand"
TODAY = dt.date(2027, 3, 9)  # a Tuesday; the pages' today() is patched to it


def _prestation(pid, commune, service_id, code, label, **extra):
    base = {"id": pid, "commune": commune, "service_id": service_id, "code": code, "label": label,
            "schedule": {"first": "2026-09-01", "last": "2027-07-02", "weekdays": [0, 1, 3, 4],
                         "opens_during": "periode_scolaire"},
            "booking_deadline": {"kind": "working_days", "days": 1, "at": "10:00"},
            "cancellation_deadline": {"kind": "calendar_days", "days": 1, "at": "18:00"},
            "horizon_days": None, "windows": [], "payment_mode": "end_of_month",
            "payment_mode_label": "Facturé en fin de mois", "price_ref": "CANTINE-REPAS", "capacity": 180,
            "starts_at": "11:45", "ends_at": "13:30", "waiting_list": False, "waiting_list_auto_confirm": False,
            "cancellation_auto_accept": True, "refund_on_cancellation": "none"}
    base.update(extra)
    return base


def _booking(bid, child, prestation, day, status, family=FAMILY, commune=HOME):
    return {"id": bid, "commune": commune, "family_id": family, "child_id": child, "service_id": CANTINE,
            "prestation_id": prestation, "session_date": day, "status": status,
            "waiting_since": "2027-03-01T08:00:00+00:00" if status in ("waiting", "pending_agent") else None,
            "updated_at": "2027-03-02T09:00:00+00:00"}


@dataclass
class FakeAgentBooking:
    secret: str
    services: dict = field(default_factory=lambda: {
        CANTINE: {"id": CANTINE, "commune": HOME, "code": "cantine", "label": "Restauration scolaire"},
        PERI: {"id": PERI, "commune": HOME, "code": "periscolaire", "label": "Périscolaire"},
        "svc-ludres": {"id": "svc-ludres", "commune": OTHER, "code": "cantine", "label": "Cantine de Ludres"},
    })
    prestations: dict = field(default_factory=lambda: {
        REPAS: _prestation(REPAS, HOME, CANTINE, "cantine-repas", "Repas"),
        SOIR: _prestation(SOIR, HOME, PERI, "peri-soir", "Accueil du soir", payment_mode="prepaid",
                          payment_mode_label="Paiement à la réservation", price_ref="PERI-SOIR",
                          refund_on_cancellation="credit", cancellation_auto_accept=False,
                          windows=[{"first": "2027-04-19", "last": "2027-04-30",
                                    "opens_at": "2027-03-08T09:00:00+01:00", "residents_open_at": None}]),
        LUDRES_REPAS: _prestation(LUDRES_REPAS, OTHER, "svc-ludres", "repas", "Repas de Ludres"),
    })
    children: dict = field(default_factory=lambda: {
        LEA: {"child_id": LEA, "family_id": FAMILY, "given_name": "Léa", "family_name": "Martin", "commune": HOME,
              "birth_date": "2018-05-02", "school": "École Jules Ferry", "class_name": "CE2", "removed": False},
        HUGO: {"child_id": HUGO, "family_id": FAMILY, "given_name": "Hugo", "family_name": "Martin", "commune": HOME,
               "birth_date": "2020-01-10", "school": "École Jules Ferry", "class_name": "CP", "removed": False},
        ZOE: {"child_id": ZOE, "family_id": FAMILY2, "given_name": "Zoé", "family_name": "Durand", "commune": HOME,
              "birth_date": "2019-11-30", "school": None, "class_name": "CE1", "removed": False},
        OTHER_CHILD: {"child_id": OTHER_CHILD, "family_id": "fam-ludres", "given_name": "Jules",
                      "family_name": "Petit", "commune": OTHER, "birth_date": None, "school": None,
                      "class_name": None, "removed": False},
    })
    bookings: dict = field(default_factory=lambda: {
        "b-lea": _booking("b-lea", LEA, REPAS, TODAY.isoformat(), "confirmed"),
        "b-hugo": _booking("b-hugo", HUGO, REPAS, TODAY.isoformat(), "cancellation_requested"),
        "b-zoe-wait": _booking("b-zoe-wait", ZOE, SOIR, "2027-03-11", "waiting", FAMILY2),
        "b-lea-pending": _booking("b-lea-pending", LEA, SOIR, "2027-03-11", "pending_agent"),
        "b-ludres": _booking("b-ludres", OTHER_CHILD, LUDRES_REPAS, TODAY.isoformat(), "cancellation_requested",
                             "fam-ludres", OTHER),
    })
    enrolments: dict = field(default_factory=dict)
    closures: dict = field(default_factory=dict)
    attendance: dict = field(default_factory=dict)        # (prestation, date, child) -> status
    locked: set = field(default_factory=set)              # dates billing invoiced
    overrides: list = field(default_factory=list)
    audit: list = field(default_factory=list)
    generated: dict = field(default_factory=dict)         # prestation -> (first, last)
    session_capacity: dict = field(default_factory=dict)  # (prestation, date) -> capacity
    calendars: dict = field(default_factory=lambda: {HOME: {"zone": "B", "school_weekdays": [0, 1, 3, 4]}})
    calls: list = field(default_factory=list)
    bodies: list = field(default_factory=list)
    # child -> booking's answer when requests says the dossier is incomplete, or None when
    # requests does not answer (booking's 503); see booking/dossiers.py
    dossier_refusals: dict = field(default_factory=dict)

    def caller(self) -> tokens.Caller:
        return tokens.verify(request.headers.get("Authorization", "").removeprefix("Bearer "), "booking", self.secret)

    @property
    def commune(self) -> str:
        return self.caller().commune

    def mine(self, table: dict, key: str) -> dict | None:
        row = table.get(key)
        return row if row and row.get("commune") == self.commune else None

    def log(self, action: str, **details):
        self.audit.insert(0, {"id": len(self.audit) + 1, "commune": self.commune, "at": "2027-03-09T10:15:00+00:00",
                              "actor": self.caller().sub, "action": action, "details": details})


def problem(status: int, detail: str, **extra):
    resp = jsonify({"type": "about:blank", "title": "Erreur", "status": status, "detail": detail, **extra})
    resp.status_code = status
    resp.content_type = "application/problem+json"
    return resp


def _page(items: list) -> dict:
    page = int(request.args.get("page", 1))
    per_page = int(request.args.get("per_page", 50))
    return {"items": items[(page - 1) * per_page: page * per_page], "page": page, "per_page": per_page,
            "total": len(items)}


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "commune"}


def make_app(fake: FakeAgentBooking) -> Flask:
    app = Flask("fake_agent_booking")

    def booking_view(b: dict) -> dict:
        child, prestation = fake.children.get(b["child_id"], {}), fake.prestations[b["prestation_id"]]
        return {**_public(b), "child_name": f"{child.get('given_name', '')} {child.get('family_name', '')}".strip(),
                "prestation_label": prestation["label"]}

    @app.before_request
    def _auth():
        fake.calls.append((request.method, request.full_path.rstrip("?")))
        if request.is_json:
            fake.bodies.append((request.method, request.path, request.get_json()))
        try:
            caller = fake.caller()
        except tokens.InvalidToken:
            return problem(401, "Jeton de service invalide.")
        if caller.role not in ("agent", "admin") or not caller.commune:
            return problem(403, "Réservé aux agents de la commune.")
        return None

    @app.route("/internal/agent/calendar", methods=["GET", "PUT"])
    def calendar():
        if request.method == "PUT":
            fake.calendars[fake.commune] = request.get_json()
        found = fake.calendars.get(fake.commune, {"zone": "B", "school_weekdays": [0, 1, 2, 3, 4]})
        return {"commune": fake.commune, **found}

    # --- catalogue -------------------------------------------------------------------------------
    @app.get("/internal/agent/services")
    def list_services():
        return _page(sorted((_public(s) for s in fake.services.values() if s["commune"] == fake.commune),
                            key=lambda s: s["label"]))

    @app.post("/internal/agent/services")
    def create_service():
        body = request.get_json()
        if any(s["code"] == body["code"] and s["commune"] == fake.commune for s in fake.services.values()):
            return problem(409, f"Le code « {body['code']} » est déjà utilisé par un autre service de votre commune.")
        sid = str(uuid.uuid4())
        fake.services[sid] = {"id": sid, "commune": fake.commune, **body}
        fake.log("service.created", service_id=sid, label=body["label"])
        return _public(fake.services[sid]), 201

    @app.patch("/internal/agent/services/<sid>")
    def rename_service(sid):
        service = fake.mine(fake.services, sid)
        if service is None:
            return problem(404, "Ce service est introuvable.")
        service["label"] = request.get_json()["label"]
        return _public(service)

    @app.get("/internal/agent/prestations")
    def list_prestations():
        sid = request.args.get("service_id")
        items = [_public(p) for p in fake.prestations.values()
                 if p["commune"] == fake.commune and (not sid or p["service_id"] == sid)]
        return _page(sorted(items, key=lambda p: p["label"]))

    def rule_problems(body: dict) -> list[str]:
        problems = []
        rules = (body["booking_deadline"], body["cancellation_deadline"])
        if any(r["kind"] == "before_holidays" for r in rules) and body["schedule"]["opens_during"] != "vacances":
            problems.append("Un délai « avant les vacances » ne s'applique qu'à un accueil ouvert pendant les vacances")
        if body.get("waiting_list") and body.get("capacity") is None:
            problems.append("Une liste d'attente demande une capacité")
        return problems

    @app.post("/internal/agent/prestations")
    def create_prestation():
        body = request.get_json()
        if fake.mine(fake.services, body["service_id"]) is None:
            return problem(404, "Ce service est introuvable.")
        problems = rule_problems(body)
        if problems:
            return problem(422, " ; ".join(problems), problems=problems)
        if any(p["code"] == body["code"] and p["commune"] == fake.commune for p in fake.prestations.values()):
            return problem(409, f"Le code « {body['code']} » est déjà utilisé par une autre prestation de votre commune.")
        pid = str(uuid.uuid4())
        fake.prestations[pid] = {"windows": [], **body, "id": pid, "commune": fake.commune,
                                 "payment_mode_label": "Facturé en fin de mois"}
        fake.log("prestation.created", prestation_id=pid, label=body["label"])
        return _public(fake.prestations[pid]), 201

    @app.route("/internal/agent/prestations/<pid>", methods=["GET", "PUT", "DELETE"])
    def one_prestation(pid):
        prestation = fake.mine(fake.prestations, pid)
        if prestation is None:
            return problem(404, "Cette prestation est introuvable.")
        if request.method == "DELETE":
            if any(b["prestation_id"] == pid for b in fake.bookings.values()):
                return problem(409, "Cette prestation a des réservations : elle ne peut pas être supprimée.")
            del fake.prestations[pid]
            return "", 204
        if request.method == "PUT":
            body = request.get_json()
            problems = rule_problems(body)
            if problems:
                return problem(422, " ; ".join(problems), problems=problems)
            prestation.update(body)
            fake.log("prestation.updated", prestation_id=pid, label=body["label"])
        return _public(prestation)

    @app.post("/internal/agent/prestations/<pid>/sessions/generate")
    def generate(pid):
        if fake.mine(fake.prestations, pid) is None:
            return problem(404, "Cette prestation est introuvable.")
        body = request.get_json()
        first, last = dt.date.fromisoformat(body["first"]), dt.date.fromisoformat(body["last"])
        if (last - first).days >= 366:
            return problem(422, "Choisissez une période d'au plus 366 jours.")
        fake.generated[pid] = (first, last)
        count = sum(1 for n in range((last - first).days + 1) if (first + dt.timedelta(n)).weekday() in (0, 1, 3, 4))
        fake.log("sessions.generated", prestation_id=pid, first=body["first"], last=body["last"], count=count)
        return {"prestation_id": pid, "first": body["first"], "last": body["last"], "generated": count}

    @app.get("/internal/agent/prestations/<pid>/sessions")
    def sessions(pid):
        prestation = fake.mine(fake.prestations, pid)
        if prestation is None:
            return problem(404, "Cette prestation est introuvable.")
        first, last = dt.date.fromisoformat(request.args["first"]), dt.date.fromisoformat(request.args["last"])
        if first.year > 2028:
            return problem(422, "Le calendrier des vacances scolaires de cette année n'est pas encore connu.")
        items, day = [], first
        while day <= last:
            closure = None if day.weekday() in prestation["schedule"]["weekdays"] else "not_an_opening_weekday"
            if day == dt.date(2027, 4, 19):
                closure = "school_holiday"
            own = fake.session_capacity.get((pid, day.isoformat()))
            items.append({"session_date": day.isoformat(), "open": closure is None, "closure": closure,
                          "closure_label": {"school_holiday": "Vacances scolaires"}.get(closure),
                          "generated": pid in fake.generated, "capacity": own if own is not None else prestation["capacity"],
                          "date_capacity": own, "confirmed": 3, "held": 1})
            day += dt.timedelta(days=1)
        return {"prestation_id": pid, "items": items}

    @app.put("/internal/agent/prestations/<pid>/sessions/<day>")
    def capacity(pid, day):
        if fake.mine(fake.prestations, pid) is None:
            return problem(404, "Cette prestation est introuvable.")
        fake.session_capacity[(pid, day)] = request.get_json()["capacity"]
        return {"session_date": day}

    # --- attendance ---------------------------------------------------------------------------------
    def day_list(pid, day):
        prestation = fake.prestations[pid]
        booked = {b["child_id"]: b for b in fake.bookings.values() if b["prestation_id"] == pid
                  and b["session_date"] == day and b["status"] in ("confirmed", "cancellation_requested")}
        marked = {c: s for (p, d, c), s in fake.attendance.items() if p == pid and d == day}
        labels = {"present": "Présent", "absent_justified": "Absent (justifié)",
                  "absent_unjustified": "Absent (non justifié)"}
        rows = []
        for cid in sorted(set(booked) | set(marked), key=lambda c: (fake.children[c]["family_name"],
                                                                    fake.children[c]["given_name"])):
            child = fake.children[cid]
            rows.append({"child_id": cid, "given_name": child["given_name"], "family_name": child["family_name"],
                         "class_name": child["class_name"], "booked": cid in booked,
                         "cancellation_requested": booked.get(cid, {}).get("status") == "cancellation_requested",
                         "status": marked.get(cid), "status_label": labels.get(marked.get(cid)),
                         "recorded_at": "2027-03-09T11:50:00+00:00" if cid in marked else None})
        return {"prestation_id": pid, "prestation_label": prestation["label"], "session_date": day,
                "locked": day in fake.locked, **_page(rows)}

    @app.route("/internal/agent/prestations/<pid>/sessions/<day>/attendance", methods=["GET", "PUT"])
    def attendance(pid, day):
        if fake.mine(fake.prestations, pid) is None:
            return problem(404, "Cette prestation est introuvable.")
        if request.method == "PUT":
            if dt.date.fromisoformat(day) > TODAY:
                return problem(422, "On ne peut pointer qu'une séance du jour ou passée.")
            if day in fake.locked:
                return problem(409, "Cette période est facturée : le pointage ne peut plus être modifié.")
            for mark in request.get_json()["marks"]:
                child = fake.mine(fake.children, mark["child_id"])
                if child is None:
                    return problem(404, "Cet enfant est introuvable.")
                fake.attendance[(pid, day, mark["child_id"])] = mark["status"]
            fake.log("attendance.recorded", prestation_id=pid, session_date=day, changed=len(request.get_json()["marks"]))
        return day_list(pid, day)

    # --- closures ---------------------------------------------------------------------------------
    @app.route("/internal/agent/closures", methods=["GET", "POST"])
    def closures():
        if request.method == "POST":
            body = request.get_json()
            if body.get("prestation_id") and fake.mine(fake.prestations, body["prestation_id"]) is None:
                return problem(404, "Cette prestation est introuvable.")
            cid = str(uuid.uuid4())
            fake.closures[cid] = {"id": cid, "commune": fake.commune, "created_at": "2027-03-09T10:00:00+00:00", **body}
            fake.log("closure.created", closure_id=cid, closed_on=body["closed_on"], label=body["label"])
            return _public(fake.closures[cid]), 201
        first = request.args.get("first", "0000")
        return _page(sorted((_public(c) for c in fake.closures.values()
                             if c["commune"] == fake.commune and c["closed_on"] >= first), key=lambda c: c["closed_on"]))

    @app.delete("/internal/agent/closures/<cid>")
    def delete_closure(cid):
        if fake.mine(fake.closures, cid) is None:
            return problem(404, "Cette fermeture est introuvable.")
        del fake.closures[cid]
        return "", 204

    # --- children, enrolments -----------------------------------------------------------------------
    @app.get("/internal/agent/children")
    def children():
        q = (request.args.get("q") or "").lower()
        items = [_public(c) for c in fake.children.values() if c["commune"] == fake.commune
                 and (not q or q in c["given_name"].lower() or q in c["family_name"].lower())]
        return _page(sorted(items, key=lambda c: (c["family_name"], c["given_name"])))

    @app.route("/internal/agent/enrolments", methods=["GET", "POST"])
    def enrolments():
        if request.method == "GET":
            cid = request.args.get("child_id")
            return _page([_public(e) for e in fake.enrolments.values()
                          if e["commune"] == fake.commune and (not cid or e["child_id"] == cid)])
        body = request.get_json()
        child = fake.mine(fake.children, body["child_id"])
        if child is None or fake.mine(fake.services, body["service_id"]) is None:
            return problem(404, "Cet enfant est introuvable.")
        if body["child_id"] in fake.dossier_refusals:
            refusal = fake.dossier_refusals[body["child_id"]]
            if refusal is None:
                return problem(503, "Le dossier de l'enfant ne peut pas être vérifié pour le moment (service des "
                                    "demandes indisponible) : l'inscription n'est pas enregistrée.")
            return problem(422, refusal["detail"], missing=refusal["missing"])
        if any(e["child_id"] == body["child_id"] and e["service_id"] == body["service_id"]
               for e in fake.enrolments.values()):
            return problem(409, "Cet enfant est déjà inscrit à ce service sur une partie de cette période.")
        eid = str(uuid.uuid4())
        fake.enrolments[eid] = {"id": eid, "commune": fake.commune, "family_id": child["family_id"],
                                "created_at": "2027-03-09T10:00:00+00:00", **body}
        booked = []
        if body.get("fixed_weekdays"):
            pid = next(p["id"] for p in fake.prestations.values() if p["service_id"] == body["service_id"])
            booked = [{"prestation_id": pid, "outcome": "confirmed", "count": 30},
                      {"prestation_id": pid, "outcome": "refused:booking_deadline_passed", "count": 2}]
            fake.log("enrolment.fixed_days_booked", child_id=body["child_id"], service_id=body["service_id"],
                     outcomes={f"{pid} confirmed": 30, f"{pid} refused:booking_deadline_passed": 2})
        return {**_public(fake.enrolments[eid]), "bookings": booked}, 201

    @app.delete("/internal/agent/enrolments/<eid>")
    def delete_enrolment(eid):
        if fake.mine(fake.enrolments, eid) is None:
            return problem(404, "Cette inscription est introuvable.")
        del fake.enrolments[eid]
        return "", 204

    # --- desk ------------------------------------------------------------------------------------------
    def by_status(*statuses):
        return [booking_view(b) for b in sorted(fake.bookings.values(), key=lambda b: (b["session_date"], b["id"]))
                if b["commune"] == fake.commune and b["status"] in statuses]

    @app.get("/internal/agent/bookings")
    def list_bookings():
        items = [b for b in by_status("confirmed", "held", "pending_agent", "waiting", "cancellation_requested",
                                      "cancelled")
                 if request.args["first"] <= b["session_date"] <= request.args["last"]
                 and (not request.args.get("status") or b["status"] == request.args["status"])
                 and (not request.args.get("prestation_id") or b["prestation_id"] == request.args["prestation_id"])]
        return _page(items)

    @app.get("/internal/agent/cancellation-requests")
    def cancellation_requests():
        return _page(by_status("cancellation_requested"))

    @app.post("/internal/agent/cancellation-requests/<bid>/decision")
    def decide_cancellation(bid):
        booking = fake.mine(fake.bookings, bid)
        if booking is None:
            return problem(404, "Cette réservation est introuvable.")
        if booking["status"] != "cancellation_requested":
            return problem(409, "Aucune demande d'annulation n'attend de décision pour cette réservation.")
        body = request.get_json()
        if body["decision"] == "refuse" and not (body.get("message") or "").strip():
            return problem(422, "Expliquez le refus à la famille.", errors={"message": "Ce champ est obligatoire."})
        booking["status"] = "cancelled" if body["decision"] == "accept" else "confirmed"
        fake.log(f"cancellation.{'accepted' if body['decision'] == 'accept' else 'refused'}", booking_id=bid,
                 session_date=booking["session_date"], refund=body.get("refund", "none"), message=body.get("message"))
        return booking_view(booking)

    @app.get("/internal/agent/waiting-list")
    def waiting():
        items = [b for b in by_status("waiting", "pending_agent")
                 if (not request.args.get("prestation_id") or b["prestation_id"] == request.args["prestation_id"])
                 and (not request.args.get("session_date") or b["session_date"] == request.args["session_date"])]
        return _page(items)

    @app.post("/internal/agent/waiting-list/<bid>/decision")
    def decide_waiting(bid):
        booking = fake.mine(fake.bookings, bid)
        if booking is None:
            return problem(404, "Cette réservation est introuvable.")
        if booking["status"] != "pending_agent":
            return problem(409, "Aucune place n'attend de confirmation pour cet enfant à cette date.")
        booking["status"] = "confirmed" if request.get_json()["decision"] == "confirm" else "cancelled"
        return booking_view(booking)

    @app.route("/internal/agent/deadline-overrides", methods=["GET", "POST"])
    def overrides():
        if request.method == "GET":
            return _page([_public(o) for o in fake.overrides if o["commune"] == fake.commune])
        body = request.get_json()
        if not any(c["family_id"] == body["family_id"] and c["commune"] == fake.commune for c in fake.children.values()):
            return problem(404, "Cette famille est introuvable ou ne relève pas de votre commune.")
        if fake.mine(fake.prestations, body["prestation_id"]) is None:
            return problem(404, "Cette prestation est introuvable.")
        if any(o["family_id"] == body["family_id"] and o["prestation_id"] == body["prestation_id"]
               and o["session_date"] == body["session_date"] for o in fake.overrides):
            return problem(409, "Une dérogation existe déjà pour cette famille à cette date.")
        row = {"id": str(uuid.uuid4()), "commune": fake.commune, "created_by": fake.caller().sub,
               "created_at": "2027-03-09T10:00:00+00:00", **body}
        fake.overrides.insert(0, row)
        fake.log("deadline.overridden", family_id=body["family_id"], prestation_id=body["prestation_id"],
                 session_date=body["session_date"], reason=body["reason"])
        return _public(row), 201

    @app.get("/internal/agent/audit")
    def audit():
        return _page([_public(e) for e in fake.audit if e["commune"] == fake.commune])

    @app.get("/internal/agent/exports/<name>.csv")
    def export(name):
        header = ("date;prestation;enfant_id;nom;prenom;famille_id;statut;prix_ref" if name == "bookings"
                  else "date;prestation;enfant_id;nom;prenom;famille_id;pointage;reserve;prix_ref")
        rows = [f"{b['session_date']};{fake.prestations[b['prestation_id']]['label']};{b['child_id']};"
                f"{fake.children[b['child_id']]['family_name']};{fake.children[b['child_id']]['given_name']};"
                f"{b['family_id']};{b['status']};X" for b in fake.bookings.values() if b["commune"] == fake.commune
                and request.args["first"] <= b["session_date"] <= request.args["last"]]
        return "\r\n".join([header, *rows]) + "\r\n", 200, {"Content-Type": "text/csv; charset=utf-8"}

    return app
