"""A fake of billing's agent API (services/billing/billing/openapi.yaml, /internal/agent/*), for the
agents' "Facturation" pages: same paths and JSON shapes, every row scoped by the service token's
commune (another commune's run or invoice is a 404), refusals as problem+json with a French detail.

It records what the gateway sends (`calls`) and honours the Idempotency-Key of a recorded payment
(the same key answers the same payment) as billing does.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request

from servicekit import tokens

COMMUNE, FAMILY = "heillecourt", "fam-1"
PDF = b"%PDF-1.7\n% fake agent invoice\n%%EOF\n"
METHOD_LABELS = {"cash": "Espèces", "cheque": "Chèque", "cesu": "CESU", "holiday_vouchers": "Chèques vacances",
                 "direct_debit": "Prélèvement", "online": "En ligne"}


def _lines():
    return [
        {"day_key": "k1", "child_id": "lea", "child_name": "Léa Martin", "prestation_id": "p1",
         "prestation_label": "Repas", "service_label": "Restauration scolaire", "day": "2026-09-08",
         "reason": "present", "reason_label": "Présent", "unit_price_cents": 350, "amount_cents": 350, "label": "Repas"},
        {"day_key": "k2", "child_id": "lea", "child_name": "Léa Martin", "prestation_id": "p1",
         "prestation_label": "Repas", "service_label": "Restauration scolaire", "day": "2026-09-10",
         "reason": "absent_unjustified", "reason_label": "Absence non justifiée", "unit_price_cents": 350,
         "amount_cents": 900, "label": "Repas"},
    ]


def problem(status: int, detail: str):
    resp = jsonify({"type": "about:blank", "title": "Erreur", "status": status, "detail": detail})
    resp.status_code = status
    resp.content_type = "application/problem+json"
    return resp


@dataclass
class FakeBilling:
    secret: str
    runs: dict = field(default_factory=dict)
    invoices: dict = field(default_factory=dict)
    warnings: dict = field(default_factory=dict)      # run_id -> [warning]
    payments: list = field(default_factory=list)
    accounts: dict = field(default_factory=dict)      # (commune, family_id) -> account
    keys: dict = field(default_factory=dict)          # Idempotency-Key -> payment
    calls: list = field(default_factory=list)
    counter: int = 0

    def commune(self) -> str:
        return self.caller().commune

    def caller(self) -> tokens.Caller:
        return tokens.verify(request.headers.get("Authorization", "").removeprefix("Bearer "), "billing", self.secret)

    # --- seeding ---------------------------------------------------------------------------------------------
    def invoice(self, *, commune=COMMUNE, family=FAMILY, family_name="Martin", status="to_pay", total=1250,
                number=None, run_id=None, kind="invoice", month="2026-09") -> dict:
        self.counter += 1
        iid = f"inv-{self.counter}"
        number = number if number is not None else f"F-2026-09-{self.counter:07d}"
        self.invoices[iid] = {
            "id": iid, "number": number, "kind": kind, "origin": "monthly", "status": status, "commune": commune,
            "family_id": family, "family_name": family_name, "month": month, "month_label": "septembre 2026",
            "total_cents": total, "credited_cents": 0, "paid_cents": total if status == "paid" else 0,
            "due_cents": 0 if status in ("paid", "credit") else total, "remaining_credit_cents": 0,
            "issued_on": "2026-10-01", "published_on": "2026-10-01", "displayed_deadline": "2026-10-15",
            "last_day_online": "2026-10-20", "due_on": "2026-10-31", "direct_debit": False,
            "payable_online": status == "to_pay", "corrects": None, "cart_id": None, "run_id": run_id}
        return self.invoices[iid]

    def run(self, *, commune=COMMUNE, month="2026-09", state="draft", warnings=()) -> dict:
        run_id = str(uuid.uuid4())
        self.runs[run_id] = {"id": run_id, "commune": commune, "month": month, "kind": "monthly", "state": state,
                             "corrects": None, "created_by": "agent-h", "created_at": "2026-10-01T08:00:00+00:00",
                             "finalised_at": None, "summary": {}}
        self.warnings[run_id] = [dict(w) for w in warnings]
        for family, name, total in ((FAMILY, "Martin", 1250), ("fam-2", "Durand", 0), ("fam-3", "Petit", 4200)):
            self.invoice(commune=commune, family=family, family_name=name, status="draft", total=total, number="",
                         run_id=run_id, month=month)
        self._summarise(run_id)
        return self.runs[run_id]

    def _summarise(self, run_id: str) -> None:
        docs = [i for i in self.invoices.values() if i["run_id"] == run_id]
        self.runs[run_id]["summary"] = {
            "invoices": len(docs), "credit_notes": 0, "lines": 2 * len(docs),
            "invoiced_total_cents": sum(d["total_cents"] for d in docs), "credit_notes_total_cents": 0,
            "credits_applied_cents": 0, "warnings": len(self.warnings[run_id])}

    def own(self, table: dict, key: str) -> dict | None:
        row = table.get(key)
        return row if row and row["commune"] == self.commune() else None


def _page(items: list) -> dict:
    page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 50))
    return {"items": items[(page - 1) * per_page:page * per_page], "total": len(items), "page": page,
            "per_page": per_page}


def make_app(fake: FakeBilling) -> Flask:
    app = Flask("fakebilling-agent")

    @app.before_request
    def _auth():
        fake.calls.append((request.method, request.path, dict(request.args), request.headers.get("Idempotency-Key"),
                           request.get_json(silent=True)))
        try:
            caller = fake.caller()
        except tokens.InvalidToken:
            return problem(401, "Jeton de service invalide.")
        if caller.role not in ("agent", "admin") or not caller.commune:
            return problem(403, "Réservé aux agents de la commune.")
        return None

    # --- runs ------------------------------------------------------------------------------------------------
    @app.get("/internal/agent/runs")
    def list_runs():
        mine = [r for r in fake.runs.values() if r["commune"] == fake.commune()]
        return _page(list(reversed(mine)))

    @app.post("/internal/agent/runs")
    def start_run():
        month = request.get_json()["month"]
        if month > "2030-01":
            return problem(422, "Ce mois n'est pas encore terminé : sa facturation ne peut pas être préparée.")
        for r in fake.runs.values():
            if r["commune"] == fake.commune() and r["state"] == "draft":
                r["state"] = "discarded"
        return fake.run(commune=fake.commune(), month=month,
                        warnings=[{"code": "attendance_missing", "family_id": FAMILY, "day_key": "k1",
                                   "message": "Léa Martin, Repas du 08/09/2026 : présence non enregistrée."},
                                  {"code": "family_without_qf", "family_id": "fam-3", "day_key": None,
                                   "message": "Famille Petit : aucun quotient familial."}]), 201

    @app.get("/internal/agent/runs/<run_id>")
    def get_run(run_id):
        run = fake.own(fake.runs, run_id)
        return run if run else problem(404, "Cette facturation est introuvable.")

    @app.delete("/internal/agent/runs/<run_id>")
    def discard_run(run_id):
        run = fake.own(fake.runs, run_id)
        if run is None:
            return problem(404, "Cette facturation est introuvable.")
        if run["state"] != "draft":
            return problem(409, "Seul un brouillon peut être abandonné.")
        run["state"] = "discarded"
        return Response(status=204)

    @app.get("/internal/agent/runs/<run_id>/warnings")
    def run_warnings(run_id):
        if fake.own(fake.runs, run_id) is None:
            return problem(404, "Cette facturation est introuvable.")
        code = request.args.get("code")
        return _page([w for w in fake.warnings[run_id] if not code or w["code"] == code])

    @app.get("/internal/agent/runs/<run_id>/documents")
    def run_documents(run_id):
        if fake.own(fake.runs, run_id) is None:
            return problem(404, "Cette facturation est introuvable.")
        return _page([i for i in fake.invoices.values() if i["run_id"] == run_id])

    @app.post("/internal/agent/runs/<run_id>/finalise")
    def finalise(run_id):
        run = fake.own(fake.runs, run_id)
        if run is None:
            return problem(404, "Cette facturation est introuvable.")
        if run["state"] != "draft":
            return problem(409, "Cette facturation est déjà finalisée.")
        run.update(state="finalised", finalised_at="2026-10-01T09:00:00+00:00")
        for n, doc in enumerate(i for i in fake.invoices.values() if i["run_id"] == run_id):
            doc.update(number=f"F-{run['month']}-{n + 1:07d}", status="to_pay" if doc["total_cents"] else "paid")
        return run

    @app.post("/internal/agent/invoices/<invoice_id>/corrections")
    def correction(invoice_id):
        original = fake.own(fake.invoices, invoice_id)
        if original is None:
            return problem(404, "Cette facture est introuvable.")
        body = request.get_json()
        if all(line["reason"] == "present" for line in body["lines"]):
            return problem(422, "Ces corrections ne changent pas le montant facturé : rien à émettre.")
        run = fake.run(commune=fake.commune(), month=original["month"])
        run.update(kind="corrective", corrects=invoice_id)
        return run, 201

    # --- invoices --------------------------------------------------------------------------------------------
    @app.get("/internal/agent/invoices")
    def list_invoices():
        a = request.args
        items = [i for i in fake.invoices.values() if i["commune"] == fake.commune() and i["status"] != "draft"
                 and (not a.get("number") or i["number"] == a["number"])
                 and (not a.get("status") or i["status"] == a["status"])
                 and (not a.get("family_id") or i["family_id"] == a["family_id"])
                 and (not a.get("family_name") or a["family_name"].lower() in i["family_name"].lower())
                 and (not a.get("kind") or i["kind"] == a["kind"]) and (not a.get("month") or i["month"] == a["month"])]
        return _page(items)

    @app.get("/internal/agent/invoices/<invoice_id>")
    def get_invoice(invoice_id):
        inv = fake.own(fake.invoices, invoice_id)
        if inv is None:
            return problem(404, "Cette facture est introuvable.")
        paid = [{"payment_id": p["id"], "number": p["number"], "method": p["method"], "received_on": p["received_on"],
                 "amount_cents": a["amount_cents"]} for p in fake.payments for a in p["allocations"]
                if a["invoice_id"] == invoice_id]
        return {**inv, "lines": _lines(), "credits_used": [], "payments": paid,
                "groups": [{"child_name": "Léa Martin", "prestation_label": "Repas", "days": 2, "amount_cents": 1250}]}

    @app.get("/internal/agent/invoices/<invoice_id>/pdf")
    def invoice_pdf(invoice_id):
        if fake.own(fake.invoices, invoice_id) is None:
            return problem(404, "Cette facture est introuvable.")
        return Response(PDF, content_type="application/pdf")

    # --- payments --------------------------------------------------------------------------------------------
    @app.get("/internal/agent/payments")
    def list_payments():
        a = request.args
        items = [p for p in reversed(fake.payments) if p["commune"] == fake.commune()
                 and (not a.get("family_id") or p["family_id"] == a["family_id"])
                 and (not a.get("method") or p["method"] == a["method"])]
        return _page(items)

    @app.post("/internal/agent/payments")
    def record_payment():
        key = request.headers.get("Idempotency-Key")
        if key and key in fake.keys:
            return fake.keys[key], 201
        body = request.get_json()
        owed = [i for i in fake.invoices.values() if i["commune"] == fake.commune()
                and i["family_id"] == body["family_id"] and i["status"] == "to_pay"
                and (not body.get("invoice_ids") or i["id"] in body["invoice_ids"])]
        if not owed and body.get("excess") != "credit":
            return problem(404, "Cette famille est introuvable.") if not any(
                i["family_id"] == body["family_id"] and i["commune"] == fake.commune()
                for i in fake.invoices.values()) else problem(422, "Cette famille ne doit rien.")
        left, parts = body["amount_cents"], []
        if left > sum(i["due_cents"] for i in owed) and body.get("excess") != "credit":
            return problem(422, "Ce paiement dépasse ce que la famille doit "
                                f"({sum(i['due_cents'] for i in owed) / 100:.2f} €).".replace(".", ","))
        for inv in owed:
            take = min(left, inv["due_cents"])
            if take:
                inv["due_cents"] -= take
                inv["paid_cents"] += take
                inv["status"] = "paid" if inv["due_cents"] == 0 else "to_pay"
                parts.append({"invoice_id": inv["id"], "number": inv["number"], "amount_cents": take})
                left -= take
        fake.counter += 1
        payment = {"id": f"pay-{fake.counter}", "number": f"P-2026-10-{fake.counter:07d}", "commune": fake.commune(),
                   "family_id": body["family_id"], "family_name": "Martin", "method": body["method"],
                   "method_label": METHOD_LABELS[body["method"]], "amount_cents": body["amount_cents"],
                   "received_on": body.get("received_on") or "2026-10-05", "reference": body.get("reference"),
                   "recorded_by": fake.caller().sub, "transaction_id": None,
                   "excess_credit_id": "credit-1" if left else None, "created_at": "2026-10-05T10:00:00+00:00",
                   "allocations": parts}
        fake.payments.append(payment)
        if key:
            fake.keys[key] = payment
        return payment, 201

    @app.get("/internal/agent/exports/invoices.csv")
    def export_invoices():
        rows = [i for i in fake.invoices.values() if i["commune"] == fake.commune() and i["status"] != "draft"]
        body = "numero;famille;montant\r\n" + "".join(f"{i['number']};{i['family_name']};"
                                                      f"{i['total_cents'] // 100},{i['total_cents'] % 100:02d}\r\n"
                                                      for i in rows)
        return Response(body, content_type="text/csv; charset=utf-8")

    @app.get("/internal/agent/exports/payments.csv")
    def export_payments():
        rows = [p for p in fake.payments if p["commune"] == fake.commune()]
        body = "numero;moyen;montant\r\n" + "".join(f"{p['number']};{p['method_label']};{p['amount_cents']}\r\n"
                                                    for p in rows)
        return Response(body, content_type="text/csv; charset=utf-8")

    # --- families' accounts ----------------------------------------------------------------------------------
    def _account(family_id):
        known = any(i["family_id"] == family_id and i["commune"] == fake.commune() for i in fake.invoices.values())
        if not known:
            return None
        return fake.accounts.setdefault((fake.commune(), family_id), {
            "family_id": family_id, "family_name": "Martin", "commune": fake.commune(), "qf": None,
            "qf_source": None, "direct_debit": False, "updated_at": None})

    @app.get("/internal/agent/families/<family_id>/account")
    def get_account(family_id):
        account = _account(family_id)
        return account if account else problem(404, "Cette famille est introuvable.")

    @app.put("/internal/agent/families/<family_id>/account")
    def put_account(family_id):
        account = _account(family_id)
        if account is None:
            return problem(404, "Cette famille est introuvable.")
        body = request.get_json()
        account.update(qf=body.get("qf"), qf_source="agent" if body.get("qf") is not None else None,
                       direct_debit=bool(body.get("direct_debit")), updated_at="2026-10-05T10:00:00+00:00")
        return account

    return app
