"""The agents' cash desk pages of "Facturation" (routes on `agent_facturation.bp`).

    /agent/facturation/factures                          invoices and credit notes: number, family name, month,
                                                         status, kind
    /agent/facturation/factures/export.csv               the same filters as CSV (billing's export)
    /agent/facturation/factures/<id>                     one document: lines, payments, PDF, corrective run
    /agent/facturation/factures/<id>/pdf                 its PDF, streamed from billing
    /agent/facturation/factures/<id>/correction          POST: draft a corrective run (new reason per day, QF)
    /agent/facturation/paiements                         payments received (method, dates), CSV link
    /agent/facturation/paiements/export.csv              the same filters as CSV
    /agent/facturation/paiements/nouveau?famille=|numero=  record an offline payment for a family's invoices
    /agent/facturation/paiements                         POST: record it (Idempotency-Key of the form)
    /agent/facturation/familles/<id>/quotient            the family's QF and direct debit (GET, POST)
"""
from __future__ import annotations

import datetime as dt
import re

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for

from servicekit import csvexport

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web.agent_facturation import MONTH, PAGE_STATUSES, PARIS, PER_PAGE, bp, commune, page_arg

DOWNLOAD_TIMEOUT = (3.05, 60.0)
NUMBER = re.compile(r"^[FAP]-\d{4}-\d{2}-\d{7}$")
METHODS = [("cash", "Espèces"), ("cheque", "Chèque"), ("cesu", "CESU"), ("holiday_vouchers", "Chèques vacances"),
           ("direct_debit", "Prélèvement")]
ALL_METHODS = [("", "Tous les moyens"), ("online", "En ligne"), *METHODS]
STATUS_FILTERS = [("", "Tous les statuts"), ("to_pay", "À payer"), ("paid", "Payée"), ("credit", "Avoir"),
                  ("cancelled", "Annulée")]
KIND_FILTERS = [("", "Factures et avoirs"), ("invoice", "Factures"), ("credit_note", "Avoirs")]
REASONS = [("present", "Présent"), ("absent_justified", "Absence justifiée"),
           ("absent_unjustified", "Absence non justifiée"), ("cancelled_in_time", "Annulé dans les délais"),
           ("cancelled_late", "Annulé hors délai"), ("present_without_booking", "Présent sans réservation"),
           ("not_booked", "Non réservé")]
MAX_EUROS = 1_000_000  # billing's bound (100 000 000 cents)
_EUROS = re.compile(r"^(\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:[,.](\d{1,2}))?$")


def parse_euros(text: str) -> int:
    """"12,50" -> 1250 cents (French style: comma, spaces between thousands; a dot is tolerated).
    Raises ValueError with the French message to show next to the field."""
    value = (text or "").strip().removesuffix("€").strip()
    if not value:
        raise ValueError("Saisissez le montant reçu, par exemple 12,50.")
    match = _EUROS.match(value)
    if not match:
        raise ValueError("Saisissez un montant en euros, par exemple 12,50 (deux chiffres après la virgule au plus).")
    whole = int(re.sub(r"\D", "", match.group(1)))
    cents = whole * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents <= 0:
        raise ValueError("Le montant doit être supérieur à 0 €.")
    if whole >= MAX_EUROS:
        raise ValueError("Le montant ne peut pas dépasser 999 999,99 €.")
    return cents


def _today() -> dt.date:
    return dt.datetime.now(PARIS).date()


def _day(text: str, label: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"« {label} » : saisissez une date (jj/mm/aaaa).") from None


def _invoice_path(invoice_id: str, suffix: str = "") -> str:
    return clients.internal_path("/internal/agent/invoices/{}" + suffix, invoice_id)


def _csv_response(path: str, params: dict, filename: str) -> Response:
    remote = clients.billing().get(path, params=params, as_agent=True, raw=True, timeout=DOWNLOAD_TIMEOUT)
    # Written again the gateway's way (BOM for French spreadsheets, formula cells neutralised).
    body = csvexport.made_safe(remote.content.decode("utf-8-sig", errors="replace"))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


def _slug() -> str:
    return (commune() or {}).get("slug", "commune")


# --- invoices --------------------------------------------------------------------------------------------------
def _invoice_filters() -> tuple[dict, dict]:
    """(billing's query parameters, errors by field) from the page's query string."""
    params, errors = {}, {}
    number = (request.args.get("numero") or "").strip().upper()[:20]
    if number:
        if NUMBER.match(number):
            params["number"] = number
        else:
            errors["numero"] = "Saisissez un numéro complet, par exemple F-2026-09-0000123."
    month = (request.args.get("mois") or "").strip()[:7]
    if month:
        if MONTH.match(month):
            params["month"] = month
        else:
            errors["mois"] = "Choisissez un mois (mois et année)."
    if request.args.get("statut") in dict(STATUS_FILTERS) and request.args.get("statut"):
        params["status"] = request.args["statut"]
    if request.args.get("type") in dict(KIND_FILTERS) and request.args.get("type"):
        params["kind"] = request.args["type"]
    family = (request.args.get("famille") or "").strip()[:64]
    if family:
        params["family_id"] = family
    name = (request.args.get("nom") or "").strip()[:100]
    if name:
        params["family_name"] = name
    return params, errors


@bp.get("/factures")
@auth.agent_required
def invoices():
    params, errors = _invoice_filters()
    page = page_arg()
    listing = {"items": [], "total": 0}
    if not errors:
        try:
            listing = clients.billing().get("/internal/agent/invoices", as_agent=True,
                                            params={**params, "page": page, "per_page": PER_PAGE})
        except ServiceError as exc:
            if exc.status not in PAGE_STATUSES:
                raise
            errors = {"numero": exc.detail}
    total = int(listing.get("total") or 0)
    export = {k: v for k, v in request.args.to_dict(flat=True).items() if k in ("mois", "statut", "type", "famille", "nom")}
    return render_template("agent/facturation/factures.html", commune=commune(), items=listing.get("items") or [],
                           total=total, page=page, has_next=page * PER_PAGE < total, args=request.args,
                           errors=errors, statuses=STATUS_FILTERS, kinds=KIND_FILTERS,
                           export_url=url_for("agent_facturation.export_invoices", **export)), 422 if errors else 200


@bp.get("/factures/export.csv")
@auth.agent_required
def export_invoices():
    params, errors = _invoice_filters()
    if errors:
        raise ServiceError(422, " ".join(errors.values()))
    params.pop("number", None)
    return _csv_response("/internal/agent/exports/invoices.csv", params,
                         f"factures-{_slug()}-{_today().isoformat()}.csv")


def _invoice_page(invoice_id: str, errors: dict | None = None, values: dict | None = None, status: int = 200):
    invoice = clients.billing().get(_invoice_path(invoice_id), as_agent=True)
    correctable = invoice.get("kind") == "invoice" and invoice.get("status") in ("to_pay", "paid") \
        and invoice.get("origin") in ("monthly", "corrective") and invoice.get("lines")
    return render_template("agent/facturation/facture.html", commune=commune(), invoice=invoice,
                           correctable=correctable, reasons=REASONS, errors=errors or {}, values=values or {}), status


@bp.get("/factures/<invoice_id>")
@auth.agent_required
def invoice(invoice_id: str):
    return _invoice_page(invoice_id)


@bp.get("/factures/<invoice_id>/pdf")
@auth.agent_required
def invoice_pdf(invoice_id: str):
    remote = clients.billing().get(_invoice_path(invoice_id, "/pdf"), as_agent=True, raw=True, stream=True,
                                   timeout=DOWNLOAD_TIMEOUT)
    name = "".join(c for c in invoice_id if c.isalnum() or c in "-_")[:64] or "facture"
    headers = {"Content-Disposition": f'attachment; filename="facture-{name}.pdf"',
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    return Response(stream_with_context(remote.iter_content(64 * 1024)), headers=headers,
                    content_type="application/pdf")


@bp.post("/factures/<invoice_id>/correction")
@auth.agent_required
def correction(invoice_id: str):
    """A corrective run for the days given another reason (and/or another QF); finalised like a month."""
    reasons = dict(REASONS)
    lines = []
    for key, value in request.form.items():
        if key.startswith("motif:") and value in reasons:
            lines.append({"day_key": key.removeprefix("motif:")[:200], "reason": value})
    values = {k: v for k, v in request.form.items() if k.startswith("motif:")}
    qf_text = (request.form.get("qf") or "").strip()
    values["qf"] = qf_text
    body: dict = {"lines": lines[:500]}
    if qf_text:
        if not qf_text.isdigit() or int(qf_text) > 100000:
            return _invoice_page(invoice_id, {"qf": "Saisissez le quotient familial en euros (un nombre entier)."},
                                 values, 422)
        body["qf"] = int(qf_text)
    if not lines:
        return _invoice_page(invoice_id, {"correction": "Choisissez le nouveau motif d'au moins une journée."},
                             values, 422)
    try:
        run = clients.billing().post(_invoice_path(invoice_id, "/corrections"), json=body, as_agent=True)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _invoice_page(invoice_id, {"correction": exc.detail}, values, exc.status)
    flash("La facturation corrective est prête : vérifiez-la puis finalisez-la.", "success")
    return redirect(url_for("agent_facturation.run", run_id=run["id"]))


# --- payments --------------------------------------------------------------------------------------------------
def _payment_filters() -> tuple[dict, dict]:
    params, errors = {}, {}
    method = request.args.get("moyen", "")
    if method and method in dict(ALL_METHODS):
        params["method"] = method
    for name, key, label in (("du", "received_from", "Reçu à partir du"), ("au", "received_to", "Reçu jusqu'au")):
        value = (request.args.get(name) or "").strip()
        if value:
            try:
                params[key] = _day(value, label)
            except ValueError as exc:
                errors[name] = str(exc)
    family = (request.args.get("famille") or "").strip()[:64]
    if family:
        params["family_id"] = family
    return params, errors


@bp.get("/paiements")
@auth.agent_required
def payments():
    params, errors = _payment_filters()
    page = page_arg()
    listing = {"items": [], "total": 0}
    if not errors:
        try:
            listing = clients.billing().get("/internal/agent/payments", as_agent=True,
                                            params={**params, "page": page, "per_page": PER_PAGE})
        except ServiceError as exc:
            if exc.status not in PAGE_STATUSES:
                raise
            errors = {"du": exc.detail}
    total = int(listing.get("total") or 0)
    export = {k: v for k, v in request.args.to_dict(flat=True).items() if k in ("moyen", "du", "au", "famille")}
    return render_template("agent/facturation/paiements.html", commune=commune(), items=listing.get("items") or [],
                           total=total, page=page, has_next=page * PER_PAGE < total, args=request.args,
                           errors=errors, methods=ALL_METHODS,
                           export_url=url_for("agent_facturation.export_payments", **export)), \
        422 if errors else 200


@bp.get("/paiements/export.csv")
@auth.agent_required
def export_payments():
    params, errors = _payment_filters()
    if errors:
        raise ServiceError(422, " ".join(errors.values()))
    return _csv_response("/internal/agent/exports/payments.csv", params,
                         f"paiements-{_slug()}-{_today().isoformat()}.csv")


def _invoice_of_number(number: str) -> dict | None:
    found = clients.billing().get("/internal/agent/invoices", params={"number": number, "per_page": 1},
                                  as_agent=True).get("items") or []
    return found[0] if found else None


def _new_payment_page(family_id: str, errors: dict | None = None, values: dict | None = None, status: int = 200,
                      chosen: str | None = None):
    """The form: the family's open invoices to tick (a prepaid cart's receipt is paid from the cart only:
    not listed), the invoice the agent came from ticked, else all of them."""
    billing = clients.billing()
    account = billing.get(clients.internal_path("/internal/agent/families/{}/account", family_id), as_agent=True)
    owed = billing.get("/internal/agent/invoices", as_agent=True,
                       params={"family_id": family_id, "status": "to_pay", "kind": "invoice", "per_page": 50})
    owed = [i for i in owed.get("items") or [] if not i.get("cart_id")]
    ticked = [chosen] if chosen and any(i["id"] == chosen for i in owed) else [i["id"] for i in owed]
    values = values or {"received_on": _today().isoformat(), "factures": ticked}
    return render_template("agent/facturation/paiement_nouveau.html", commune=commune(), account=account,
                           family_id=family_id, owed=owed, methods=METHODS, errors=errors or {}, values=values), status


@bp.get("/paiements/nouveau")
@auth.agent_required
def new_payment():
    family_id = (request.args.get("famille") or "").strip()[:64]
    number = (request.args.get("numero") or "").strip().upper()[:20]
    chosen = None
    if not family_id and number:
        if not NUMBER.match(number):
            flash("Saisissez un numéro de facture complet, par exemple F-2026-09-0000123.", "error")
            return redirect(url_for("agent_facturation.payments"))
        invoice = _invoice_of_number(number)
        if invoice is None:
            flash(f"Aucune facture {number} dans cette commune.", "error")
            return redirect(url_for("agent_facturation.payments"))
        family_id, chosen = invoice["family_id"], invoice["id"]
    if not family_id:
        flash("Indiquez le numéro d'une facture de la famille qui paie.", "error")
        return redirect(url_for("agent_facturation.payments"))
    return _new_payment_page(family_id, chosen=chosen)


@bp.post("/paiements")
@auth.agent_required
def record_payment():
    family_id = (request.form.get("famille") or "").strip()[:64]
    if not family_id:
        raise ServiceError(400, "Indiquez la famille qui paie.")
    values = {"method": request.form.get("method", ""), "amount": (request.form.get("amount") or "").strip()[:30],
              "received_on": (request.form.get("received_on") or "").strip()[:10],
              "reference": (request.form.get("reference") or "").strip()[:200],
              "excess": request.form.get("excess") == "1",
              "factures": [i for i in request.form.getlist("facture") if i][:200]}
    errors, body = {}, {"family_id": family_id}
    if values["method"] not in dict(METHODS):
        errors["method"] = "Choisissez le moyen de paiement."
    else:
        body["method"] = values["method"]
    try:
        body["amount_cents"] = parse_euros(values["amount"])
    except ValueError as exc:
        errors["amount"] = str(exc)
    if values["received_on"]:
        try:
            received = _day(values["received_on"], "Reçu le")
            if dt.date.fromisoformat(received) > _today():
                errors["received_on"] = "La date de réception ne peut pas être dans le futur."
            body["received_on"] = received
        except ValueError as exc:
            errors["received_on"] = str(exc)
    if values["reference"]:
        body["reference"] = values["reference"]
    if values["factures"]:
        body["invoice_ids"] = values["factures"]
    if values["excess"]:
        body["excess"] = "credit"
    if errors:
        return _new_payment_page(family_id, errors, values, 422)
    try:
        payment = clients.billing().post("/internal/agent/payments", json=body, as_agent=True,
                                         idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        field = "amount" if exc.status == 422 else "method"
        return _new_payment_page(family_id, {field: exc.detail}, values, exc.status)
    flash(f"Paiement {payment.get('number') or ''} enregistré.", "success")
    return redirect(url_for("agent_facturation.payments", famille=family_id))


# --- the family's QF -------------------------------------------------------------------------------------------
def _account_path(family_id: str) -> str:
    return clients.internal_path("/internal/agent/families/{}/account", family_id)


def _qf_page(family_id: str, errors: dict | None = None, values: dict | None = None, status: int = 200):
    account = clients.billing().get(_account_path(family_id), as_agent=True)
    values = values or {"qf": "" if account.get("qf") is None else str(account["qf"]),
                        "direct_debit": bool(account.get("direct_debit"))}
    return render_template("agent/facturation/quotient.html", commune=commune(), account=account,
                           family_id=family_id, errors=errors or {}, values=values), status


@bp.get("/familles/<family_id>/quotient")
@auth.agent_required
def family_qf(family_id: str):
    return _qf_page(family_id)


@bp.post("/familles/<family_id>/quotient")
@auth.agent_required
def save_family_qf(family_id: str):
    qf_text = (request.form.get("qf") or "").strip().replace(" ", "")[:12]
    values = {"qf": qf_text, "direct_debit": request.form.get("direct_debit") == "1"}
    if qf_text and (not qf_text.isdigit() or int(qf_text) > 100000):
        return _qf_page(family_id, {"qf": "Saisissez le quotient familial en euros : un nombre entier de 0 à 100 000."},
                        values, 422)
    body = {"qf": int(qf_text) if qf_text else None, "direct_debit": values["direct_debit"]}
    try:
        clients.billing().put(_account_path(family_id), json=body, as_agent=True)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _qf_page(family_id, {"qf": exc.detail}, values, exc.status)
    flash("Quotient familial enregistré : il s'applique aux prochaines facturations." if qf_text else
          "Quotient familial effacé : la tranche la plus haute s'appliquera aux prochaines facturations.", "success")
    return redirect(url_for("agent_facturation.family_qf", family_id=family_id))

