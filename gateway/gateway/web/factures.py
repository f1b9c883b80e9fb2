"""The parents' invoices ("Mes factures"), on billing's parent API. They work without JavaScript.

    /factures                                   "Factures à payer" (tick and pay), "Factures payées", avoirs;
                                                ?payer=<id> ticks only that invoice (sibling portals link there)
    /factures/<id>                              one invoice: lines per child, prestation and date
    /factures/<id>/pdf                          its PDF, streamed from billing (attachment)
    /factures/attestations/<year>/pdf           the yearly payment certificate (taxes, CAF), streamed
    /factures/payer                             POST: one online payment for the ticked invoices
    /factures/paniers/<cart_id>/paiement        a validated prepaid cart's payment (GET: where it
                                                stands; POST: go to the provider)
    /factures/paiements/<transaction_id>        "paiement en cours": polls billing until decided
    /factures/paiements/retour?transaction=     the provider sends the payer back here

Every id taken from the browser goes to billing through `clients.internal_path` or a JSON body;
billing decides what the family may see (another family's invoice is a 404).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import (Blueprint, Response, abort, current_app, redirect, render_template, request, stream_with_context,
                   url_for)

from gateway import auth, clients, idempotency
from gateway.clients import ServiceError
from gateway.web.account_helpers import date_fr

bp = Blueprint("factures", __name__, url_prefix="/factures")

PER_PAGE = 50
MAX_SELECTED = 50          # billing's limit per payment
DOWNLOAD_TIMEOUT = (3.05, 60)
# Statuses whose French detail belongs on the page the parent was using.
PAGE_STATUSES = (400, 409, 422, 429, 503)
DECIDED = {"paid": "Paiement reçu", "refused": "Paiement refusé", "abandoned": "Paiement abandonné",
           "expired": "Paiement expiré"}
POLL_SECONDS = 3
PARIS = ZoneInfo("Europe/Paris")


def this_year() -> int:
    return dt.datetime.now(PARIS).year


@bp.app_template_filter("euros")
def euros(cents) -> str:
    """1234550 -> "12 345,50 €" (integer cents, French style)."""
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", " ") + f",{rest:02d} €"


@bp.app_template_filter("date_fr")
def _date_fr(value) -> str:
    return date_fr(value)


@bp.before_request
def _family_only():
    user = auth.current_user()
    if user is not None and not user.get("family_id"):
        return render_template("reservations/sans_famille.html"), 404
    return None


def _invoices(status: str) -> dict:
    return clients.billing().get("/internal/parent/invoices", params={"status": status, "per_page": PER_PAGE})


def _render_index(status: int = 200, errors=None, selected=()):
    to_pay, paid, credits = _invoices("to_pay"), _invoices("paid"), _invoices("credit")
    year = this_year()
    return render_template("factures/index.html", to_pay=to_pay, paid=paid, credits=credits, errors=errors or [],
                           selected=set(selected), attestation_years=[year - 1, year]), status


@bp.get("")
@auth.login_required
def index():
    # `?payer=<id>` (repeatable): only these invoices ticked, e.g. from a sibling portal's "Payer" link.
    return _render_index(selected=request.args.getlist("payer")[:MAX_SELECTED])


@bp.get("/<invoice_id>")
@auth.login_required
def invoice(invoice_id: str):
    doc = clients.billing().get(clients.internal_path("/internal/parent/invoices/{}", invoice_id))
    return render_template("factures/facture.html", invoice=doc)


def _stream_pdf(path: str, filename: str, disposition: str = "attachment") -> Response:
    """Billing's PDF, streamed as it comes: opened by the browser (`inline`) or downloaded."""
    remote = clients.billing().get(path, raw=True, stream=True, timeout=DOWNLOAD_TIMEOUT)
    headers = {"Content-Disposition": f'{disposition}; filename="{filename}"',
               "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}
    if remote.headers.get("Content-Length"):
        headers["Content-Length"] = remote.headers["Content-Length"]
    return Response(stream_with_context(remote.iter_content(64 * 1024)), status=200, headers=headers,
                    content_type="application/pdf")


@bp.get("/<invoice_id>/pdf")
@auth.login_required
def pdf(invoice_id: str):
    name = "".join(c for c in invoice_id if c.isalnum() or c in "-_")[:64] or "facture"
    # Opened in the browser's PDF viewer (which offers to save it); the file name is kept for that.
    return _stream_pdf(clients.internal_path("/internal/parent/invoices/{}/pdf", invoice_id), f"facture-{name}.pdf",
                       "inline")


@bp.get("/attestations/<int:year>/pdf")
@auth.login_required
def attestation_pdf(year: int):
    """The yearly payment certificate (for taxes and the CAF); billing refuses a year out of range."""
    if not 2000 <= year <= 9999:
        abort(404)
    return _stream_pdf(clients.internal_path("/internal/parent/attestations/{}/pdf", year),
                       f"attestation-paiement-{year}.pdf")


# --- paying ------------------------------------------------------------------------------------
def _return_url() -> str:
    # The public address (as for sign-in), not the Host header the request came with.
    base = current_app.config["SERVICE_SETTINGS"].public_url.rstrip("/")
    return base + url_for("factures.payment_return")


def _to_provider(attempt: dict):
    """The provider's answer: a redirect, an auto-submitted form, or (nothing to pay) the status page."""
    target = attempt.get("redirect") or {}
    if attempt.get("payment_needed") and target.get("url"):
        if (target.get("method") or "GET").upper() == "GET":
            return redirect(target["url"], code=303)
        return render_template("factures/vers_paiement.html", target=target, attempt=attempt)
    if attempt.get("transaction_id"):
        return redirect(url_for("factures.payment", transaction_id=attempt["transaction_id"]), code=303)
    return render_template("factures/paiement.html", attempt=attempt, decided=DECIDED.get(attempt.get("status")),
                           poll=None)


@bp.post("/payer")
@auth.login_required
def pay():
    """"Payer les factures sélectionnées": one attempt, sent with the form's Idempotency-Key so a
    double click gets the same attempt."""
    selected = list(dict.fromkeys(i for i in request.form.getlist("facture") if i))
    if not selected:
        return _render_index(422, ["Cochez au moins une facture à payer."])
    if len(selected) > MAX_SELECTED:
        return _render_index(422, [f"Cochez au plus {MAX_SELECTED} factures à la fois."], selected)
    body = {"invoice_ids": selected, "return_url": _return_url()}
    email = (auth.current_user() or {}).get("email")
    if email:
        body["email"] = email
    try:
        attempt = clients.billing().post("/internal/parent/payments", json=body,
                                         idempotency_key=idempotency.submitted())
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _render_index(exc.status, [exc.detail], selected)
    return _to_provider(attempt)


def _cart_path(cart_id: str) -> str:
    return clients.internal_path("/internal/parent/carts/{}/payment", cart_id)


@bp.get("/paniers/<cart_id>/paiement")
@auth.login_required
def cart_payment(cart_id: str):
    """Where a validated prepaid cart's payment stands; the button posts to the provider."""
    attempt = clients.billing().get(_cart_path(cart_id))
    return render_template("factures/panier.html", attempt=attempt, cart_id=cart_id, errors=[],
                           decided=DECIDED.get(attempt.get("status")),
                           poll=POLL_SECONDS if attempt.get("status") == "preparing" else None)


@bp.post("/paniers/<cart_id>/paiement")
@auth.login_required
def start_cart_payment(cart_id: str):
    body = {"return_url": _return_url()}
    email = (auth.current_user() or {}).get("email")
    if email:
        body["email"] = email
    try:
        attempt = clients.billing().post(_cart_path(cart_id), json=body)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        attempt = clients.billing().get(_cart_path(cart_id))
        return render_template("factures/panier.html", attempt=attempt, cart_id=cart_id, errors=[exc.detail],
                               decided=DECIDED.get(attempt.get("status")), poll=None), exc.status
    return _to_provider(attempt)


@bp.get("/paiements/retour")
@auth.login_required
def payment_return():
    """The payer back from the provider (eopayment's Systempay default: a GET, `vads_return_mode=GET`).
    What the provider says here is never trusted: the page shows billing's status."""
    transaction_id = request.args.get("transaction", "")
    if not transaction_id:
        abort(404)
    return redirect(url_for("factures.payment", transaction_id=transaction_id), code=303)


@bp.get("/paiements/<transaction_id>")
@auth.login_required
def payment(transaction_id: str):
    """"Paiement en cours": refreshed every few seconds (meta refresh) until billing has decided."""
    attempt = clients.billing().get(clients.internal_path("/internal/parent/payments/{}", transaction_id))
    decided = DECIDED.get(attempt.get("status"))
    return render_template("factures/paiement.html", attempt=attempt, decided=decided,
                           poll=None if decided else POLL_SECONDS)
