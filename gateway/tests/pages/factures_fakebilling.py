"""A fake of billing's parent API (services/billing/billing/openapi.yaml, /internal/parent/*), for the
invoice pages' tests: same paths, same JSON shapes, tenancy by the service token's family, and the
provider's answer and each attempt's status set by the tests.

It checks what the gateway sends: a valid service token for role `parent` and its family, and the
Idempotency-Key of "Payer les factures sélectionnées" (the same key answers the same attempt).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request

from servicekit import tokens

FAMILY, OTHER_FAMILY = "fam-1", "fam-2"
SEPT, OCT, PAID, OTHERS = "inv-sept", "inv-oct", "inv-aout", "inv-other"
CART = "cart-1"
PDF = b"%PDF-1.7\n% fake invoice\n%%EOF\n"
BANK = "https://banque.example.org/paiement"


def _invoice(iid, family, number, month, label, status, total, paid=0, **extra):
    return {"id": iid, "kind": "invoice", "origin": "monthly", "status": status, "commune": "heillecourt",
            "family_id": family, "family_name": "Martin", "number": number, "month": month, "month_label": label,
            "total_cents": total, "credited_cents": 0, "paid_cents": paid, "due_cents": total - paid,
            "remaining_credit_cents": 0, "issued_on": f"{month}-28", "published_on": f"{month}-28",
            "displayed_deadline": "2026-11-15", "last_day_online": "2026-11-20", "due_on": "2026-11-30",
            "direct_debit": False, "payable_online": status == "to_pay", "corrects": None, "cart_id": None, **extra}


def _lines():
    return [
        {"day_key": "k1", "child_id": "lea", "child_name": "Léa Martin", "prestation_label": "Repas",
         "service_label": "Restauration scolaire", "day": "2026-09-08", "reason": "present", "reason_label": "Présent",
         "unit_price_cents": 350, "amount_cents": 350, "label": "Repas du 08/09/2026"},
        {"day_key": "k2", "child_id": "lea", "child_name": "Léa Martin", "prestation_label": "Repas",
         "service_label": "Restauration scolaire", "day": "2026-09-10", "reason": "absent_unjustified",
         "reason_label": "Absence non justifiée", "unit_price_cents": 350, "amount_cents": 350, "label": "Repas"},
        {"day_key": "k3", "child_id": "hugo", "child_name": "Hugo Martin", "prestation_label": "Accueil du soir",
         "service_label": "Périscolaire", "day": "2026-09-09", "reason": "present", "reason_label": "Présent",
         "unit_price_cents": 550, "amount_cents": 550, "label": "Accueil du soir"},
    ]


@dataclass
class FakeBilling:
    secret: str
    invoices: dict = field(default_factory=lambda: {
        SEPT: _invoice(SEPT, FAMILY, "F-2026-09-0000012", "2026-09", "septembre 2026", "to_pay", 1250),
        OCT: _invoice(OCT, FAMILY, "F-2026-10-0000034", "2026-10", "octobre 2026", "to_pay", 123456, paid=1000),
        PAID: _invoice(PAID, FAMILY, "F-2026-08-0000005", "2026-08", "août 2026", "paid", 4200, paid=4200),
        OTHERS: _invoice(OTHERS, OTHER_FAMILY, "F-2026-09-0000099", "2026-09", "septembre 2026", "to_pay", 999),
    })
    redirect_method: str = "POST"                       # the provider's answer: POST form or GET redirect
    attempts: dict = field(default_factory=dict)        # transaction_id -> attempt
    idempotency: dict = field(default_factory=dict)     # key -> transaction_id
    cart: dict = field(default_factory=lambda: {"status": "created", "payment_needed": True, "amount_cents": 780})
    credits_cover: bool = False                        # open credits pay the whole selection
    refuse: dict = field(default_factory=dict)          # path -> (status, detail), answered once
    calls: list = field(default_factory=list)

    def caller(self) -> tokens.Caller:
        return tokens.verify(request.headers.get("Authorization", "").removeprefix("Bearer "), "billing", self.secret)

    def own(self, invoice_id: str) -> dict | None:
        inv = self.invoices.get(invoice_id)
        return inv if inv and inv["family_id"] == self.caller().family_id else None

    def redirect(self, tid: str) -> dict:
        if self.redirect_method == "GET":
            return {"method": "GET", "url": f"{BANK}?tx={tid}", "fields": []}
        return {"method": "POST", "url": BANK, "fields": [{"name": "vads_trans_id", "value": tid},
                                                           {"name": "signature", "value": "abc=="}]}


def problem(status: int, detail: str):
    resp = jsonify({"type": "about:blank", "title": "Erreur", "status": status, "detail": detail})
    resp.status_code = status
    resp.content_type = "application/problem+json"
    return resp


def make_app(fake: FakeBilling) -> Flask:
    app = Flask("fakebilling")

    @app.before_request
    def _auth():
        fake.calls.append((request.method, request.path, request.headers.get("Idempotency-Key"),
                           request.get_json(silent=True)))
        try:
            caller = fake.caller()
        except tokens.InvalidToken:
            return problem(401, "Jeton de service invalide.")
        if caller.role != "parent" or not caller.family_id:
            return problem(403, "Réservé aux parents.")
        refused = fake.refuse.pop(request.path, None)
        return problem(*refused) if refused else None

    @app.get("/internal/parent/invoices")
    def invoices():
        family = fake.caller().family_id
        status = request.args.get("status")
        items = [i for i in fake.invoices.values() if i["family_id"] == family and (not status or i["status"] == status)]
        items.sort(key=lambda i: i["month"], reverse=True)
        return {"items": items, "page": 1, "per_page": 50, "total": len(items),
                "to_pay_cents": sum(i["due_cents"] for i in items if i["status"] == "to_pay"), "credit_cents": 0}

    @app.get("/internal/parent/invoices/<invoice_id>")
    def invoice(invoice_id):
        inv = fake.own(invoice_id)
        if inv is None:
            return problem(404, "Cette facture est introuvable.")
        return {**inv, "lines": _lines(), "credits_used": [], "payments": [],
                "groups": [{"child_name": "Léa Martin", "prestation_label": "Repas", "days": 2, "amount_cents": 700},
                           {"child_name": "Hugo Martin", "prestation_label": "Accueil du soir", "days": 1,
                            "amount_cents": 550}]}

    @app.get("/internal/parent/invoices/<invoice_id>/pdf")
    def pdf(invoice_id):
        if fake.own(invoice_id) is None:
            return problem(404, "Cette facture est introuvable.")
        return Response(PDF, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{invoice_id}.pdf"'})

    @app.get("/internal/parent/attestations/<int:year>/pdf")
    def attestation(year):
        if year > 2026:
            return problem(422, "L'attestation de cette année n'est pas encore disponible.")
        return Response(PDF + str(year).encode(), content_type="application/pdf")

    @app.post("/internal/parent/payments")
    def start_payment():
        body = request.get_json()
        key = request.headers.get("Idempotency-Key")
        if fake.credits_cover:
            return {"transaction_id": None, "status": "paid", "payment_needed": False, "amount_cents": 0}, 201
        if key in fake.idempotency:
            return fake.attempts[fake.idempotency[key]], 201
        chosen = [fake.own(i) for i in body["invoice_ids"]]
        if not all(chosen) or not body.get("return_url", "").startswith("http"):
            return problem(404, "Cette facture est introuvable.")
        tid = "tx-" + secrets.token_hex(4)
        fake.attempts[tid] = {"transaction_id": tid, "status": "created", "subject": "invoices",
                              "amount_cents": sum(i["due_cents"] for i in chosen), "payment_needed": True,
                              "invoices": [{"id": i["id"], "number": i["number"]} for i in chosen],
                              "redirect": fake.redirect(tid), "return_url": body["return_url"]}
        if key:
            fake.idempotency[key] = tid
        return fake.attempts[tid], 201

    @app.get("/internal/parent/payments/<tid>")
    def get_payment(tid):
        attempt = fake.attempts.get(tid)
        if attempt is None:
            return problem(404, "Ce paiement est introuvable.")
        return attempt

    @app.get("/internal/parent/carts/<cart_id>/payment")
    def cart_payment(cart_id):
        return {**fake.cart, "cart_id": cart_id, "subject": "cart"}

    @app.post("/internal/parent/carts/<cart_id>/payment")
    def start_cart_payment(cart_id):
        tid = "tx-cart-" + cart_id
        fake.attempts[tid] = {**fake.cart, "cart_id": cart_id, "subject": "cart", "transaction_id": tid,
                              "redirect": fake.redirect(tid)}
        return fake.attempts[tid], 201

    return app
