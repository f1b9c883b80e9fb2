"""Online payment: attempts (one transaction each), the provider's proof, prepaid carts.

- Starting: the payer's account is locked (PostgreSQL advisory lock on the family), so a double
  click is served the same attempt: the same Idempotency-Key returns the same answer, and an
  open attempt for the same invoices and amount under 2 minutes old is reused
  (billing.domain.payments.reusable_attempt). Credits are used first; direct-debit invoices and
  amounts outside the provider's (and the commune's) bounds are refused before anything starts.
- Proof: only a signed server-to-server notification (or the provider's status answer) moves a
  transaction. The transaction row is locked while a message is applied
  (billing.domain.payments.apply_outcome, idempotent), and a payment row is unique per
  transaction: duplicates, replays and out-of-order messages never pay twice nor lose a payment.
  Every message is logged in `payment_notifications`, valid or not.
- Prepaid carts (booking's cart.validated.v1): a receipt invoice for the held lines, credits
  deducted first; covered → payment.succeeded.v1 at once; else a transaction the parent starts.
  Paid → payment.succeeded.v1; failed, abandoned or expired (or the cart's hold passed) →
  payment.failed.v1 and the receipt cancelled (credits given back); paid after that → the money
  becomes a credit note. Booking's cart.abandoned.v1 closes the attempt at once; its
  cart.paid_after_release.v1 (a payment booked here after booking had released the places) gives
  back what the receipt received. Payment events name the validation they are for (validated_at).
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
import zlib
from dataclasses import replace
from typing import Mapping
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts import booking as booking_contract
from contracts.envelope import Envelope
from servicekit.problems import Problem
from servicekit.types import isoformat_utc, utcnow

from billing import cashdesk, config, events, ledger
from billing.domain.allocation import AllocationError, PaymentMethod, check_payable_online, settle_cart
from billing.domain.calendar import Month
from billing.domain.invoicing import line_label
from billing.domain.numbering import Series
from billing.domain.payments import (AmountMismatch, Attempt, Effect, PaymentRuleError, Transaction, TransactionState,
                                     apply_outcome, check_amount, expire_if_stale, mark_sent, needs_recheck,
                                     reusable_attempt)
from billing.domain.pricing import Reason
from billing.models import (cart_validations, children, invoice_lines, invoices, payment_notifications,
                            payment_transactions)
from billing.payments import (AmountOutOfRange, InvalidNotification, PaymentOutcome, PaymentProvider, PaymentRequest,
                              ProviderUnavailable, RequestRejected)
from billing.projections import day_key
from billing.timeutil import paris_today

log = logging.getLogger(__name__)

TX_NOT_FOUND = "Ce paiement est introuvable."


# --- helpers ----------------------------------------------------------------------------------------------
def _lock_family(session: Session, family_id: str) -> None:
    """Serialise the payment starts of one family (PostgreSQL; SQLite writes are serial anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": zlib.crc32(f"billing-pay:{family_id}".encode())})


def domain_tx(row: Mapping) -> Transaction:
    return Transaction(row["id"], row["amount_cents"], TransactionState(row["state"]), row["created_at"],
                       row["pending_since"], row["decided_at"], row["bank_reference"] or "")


def _save_tx(session: Session, tx: Transaction, **extra) -> None:
    session.execute(payment_transactions.update().where(payment_transactions.c.id == tx.id).values(
        state=tx.state.value, pending_since=tx.pending_since, decided_at=tx.decided_at,
        bank_reference=tx.bank_reference or None, **extra))


def tx_view(session: Session, row: Mapping) -> dict:
    numbers = {}
    if row["invoice_ids"]:
        numbers = dict(session.execute(sa.select(invoices.c.id, invoices.c.number)
                                       .where(invoices.c.id.in_(row["invoice_ids"]))).all())
    start = row["start"] or None
    state = TransactionState(row["state"])
    return {"transaction_id": row["id"], "status": state.value, "amount_cents": row["amount_cents"],
            "subject": row["subject"], "cart_id": row["cart_id"], "commune": row["commune"],
            "invoices": [{"id": i, "number": numbers.get(i)} for i in row["invoice_ids"]],
            "payment_needed": True, "redirect": start if state.is_open else None,
            "created_at": isoformat_utc(row["created_at"]), "decided_at": isoformat_utc(row["decided_at"])}


def _bounds(session: Session, commune: str, provider: PaymentProvider) -> tuple[int, int]:
    settings = config.load_settings(session, commune)
    low = max(provider.min_amount_cents, settings["payment_min_cents"] or 0)
    high = min(provider.max_amount_cents, settings["payment_max_cents"] or provider.max_amount_cents)
    return low, high


def _check_return_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Problem(422, "L'adresse de retour doit être une adresse web (http ou https).")


def _with_tx(url: str, tx_id: str) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode({'transaction': tx_id})}"


def _send(session: Session, row: Mapping, provider: PaymentProvider, notify_url: str, label: str,
          email: str | None = None) -> Mapping:
    """Register the attempt with the provider (created → pending) and keep its redirect or form."""
    tx = domain_tx(row)
    request = PaymentRequest(transaction_id=row["id"], amount_cents=row["amount_cents"],
                             return_url=_with_tx(row["return_url"], row["id"]), notify_url=notify_url,
                             email=email, label=label)
    try:
        start = provider.start(request)
    except (AmountOutOfRange, RequestRejected) as exc:
        raise Problem(422, exc.detail) from None
    except ProviderUnavailable as exc:
        raise Problem(503, exc.detail) from None
    sent = mark_sent(tx, utcnow())
    redirect = {"method": start.method, "url": start.url, "fields": [{"name": n, "value": v} for n, v in start.fields]}
    _save_tx(session, sent, provider_transaction_id=start.transaction_id, start=redirect)
    return session.execute(sa.select(payment_transactions).where(payment_transactions.c.id == row["id"])
                           ).mappings().one()


def _new_tx(session: Session, *, commune: str, family_id: str, provider: PaymentProvider, amount: int, subject: str,
            invoice_ids: list[str], cart_id: str | None = None, hold_expires_at: dt.datetime | None = None,
            idempotency_key: str | None = None, return_url: str | None = None) -> Mapping:
    tx_id = str(uuid.uuid4())
    session.execute(payment_transactions.insert().values(
        id=tx_id, commune=commune, family_id=family_id, provider=provider.name, amount_cents=amount,
        state=TransactionState.CREATED.value, subject=subject, invoice_ids=invoice_ids, cart_id=cart_id,
        hold_expires_at=hold_expires_at, idempotency_key=idempotency_key, return_url=return_url,
        created_at=utcnow()))
    return session.execute(sa.select(payment_transactions).where(payment_transactions.c.id == tx_id)).mappings().one()


def _by_key(session: Session, family_id: str, key: str | None) -> Mapping | None:
    if not key:
        return None
    return session.execute(sa.select(payment_transactions).where(
        payment_transactions.c.family_id == family_id, payment_transactions.c.idempotency_key == key)
    ).mappings().first()


# --- parents: paying invoices ---------------------------------------------------------------------------------
def start_invoice_payment(session: Session, family_id: str, body: Mapping, idempotency_key: str | None,
                          provider: PaymentProvider, notify_url: str, email: str | None = None) -> dict:
    _check_return_url(body["return_url"])
    _lock_family(session, family_id)
    known = _by_key(session, family_id, idempotency_key)
    if known is not None:
        if sorted(known["invoice_ids"]) != sorted(body["invoice_ids"]) or known["subject"] != "invoices":
            raise Problem(422, "Cette clé d'idempotence a déjà servi pour un autre paiement.")
        return tx_view(session, known)
    wanted = list(body["invoice_ids"])
    if len(set(wanted)) != len(wanted):
        raise Problem(422, "Une facture est sélectionnée deux fois.")
    today = paris_today()
    rows = session.execute(sa.select(invoices).where(
        invoices.c.id.in_(wanted), invoices.c.family_id == family_id, invoices.c.kind == "invoice",
        invoices.c.state == "published", invoices.c.published_on <= today).order_by(invoices.c.id).with_for_update()
    ).mappings().all()
    if len(rows) != len(wanted):
        raise Problem(404, "Une des factures sélectionnées est introuvable.")
    communes = {row["commune"] for row in rows}
    if len(communes) > 1:
        raise Problem(422, "Un paiement ne peut régler que des factures d'une même commune.")
    commune = communes.pop()
    if any(row["origin"] == "cart" for row in rows):
        raise Problem(422, "Un reçu de panier se règle depuis le panier, pas depuis vos factures.")
    try:
        check_payable_online([cashdesk.open_invoice(row) for row in rows], today)
    except AllocationError as exc:
        raise Problem(422, exc.detail) from None
    rows = _use_credits_first(session, commune, family_id, rows, today)
    amount = sum(ledger.owed(row) for row in rows)
    if amount == 0:
        return {"transaction_id": None, "status": "paid", "amount_cents": 0, "subject": "invoices", "cart_id": None,
                "commune": commune, "invoices": [{"id": r["id"], "number": r["number"]} for r in rows],
                "payment_needed": False, "redirect": None, "created_at": None, "decided_at": None}
    low, high = _bounds(session, commune, provider)
    try:
        check_amount(amount, low, high)
    except PaymentRuleError as exc:
        raise Problem(422, exc.detail) from None
    ids = sorted(row["id"] for row in rows if ledger.owed(row) > 0)
    now = utcnow()
    open_rows = session.execute(sa.select(payment_transactions).where(
        payment_transactions.c.family_id == family_id, payment_transactions.c.subject == "invoices",
        payment_transactions.c.state.in_(["created", "pending"]),
        payment_transactions.c.created_at >= now - dt.timedelta(minutes=5))).mappings().all()
    reused = reusable_attempt([Attempt(domain_tx(r), frozenset(r["invoice_ids"])) for r in open_rows], ids, amount, now)
    if reused is not None:
        return tx_view(session, next(r for r in open_rows if r["id"] == reused.id))
    row = _new_tx(session, commune=commune, family_id=family_id, provider=provider, amount=amount,
                  subject="invoices", invoice_ids=ids, idempotency_key=idempotency_key, return_url=body["return_url"])
    numbers = ", ".join(r["number"] for r in rows if r["id"] in ids)
    row = _send(session, row, provider, notify_url, f"Factures {numbers}"[:250], email)
    return tx_view(session, row)


def _use_credits_first(session: Session, commune: str, family_id: str, rows: list[Mapping],
                       today: dt.date) -> list[Mapping]:
    credits = ledger.open_credits(session, commune, [family_id])
    if not credits:
        return rows
    from billing.domain.invoicing import apply_credits

    for row in sorted(rows, key=lambda r: (r["issued_on"], r["number"] or "", r["id"])):
        uses = apply_credits(ledger.owed(row), credits)
        if uses:
            ledger.use_credits(session, row["id"], uses, today)
            used = {u.credit_id: u.amount_cents for u in uses}
            credits = [replace(c, remaining_cents=c.remaining_cents - used.get(c.id, 0)) for c in credits]
    return session.execute(sa.select(invoices).where(invoices.c.id.in_([r["id"] for r in rows]))
                           .order_by(invoices.c.id)).mappings().all()


def parent_transaction(session: Session, family_id: str, tx_id: str) -> dict:
    row = session.execute(sa.select(payment_transactions).where(
        payment_transactions.c.id == tx_id, payment_transactions.c.family_id == family_id)).mappings().first()
    if row is None:
        raise Problem(404, TX_NOT_FOUND)
    return tx_view(session, row)


# --- parents: paying a prepaid cart -----------------------------------------------------------------------------
def _cart_rows(session: Session, family_id: str, cart_id: str):
    return session.execute(sa.select(payment_transactions).where(
        payment_transactions.c.family_id == family_id, payment_transactions.c.cart_id == cart_id)
        .order_by(payment_transactions.c.created_at.desc())).mappings().all()


def cart_payment(session: Session, family_id: str, cart_id: str) -> dict:
    """Where the payment of a validated cart stands: preparing (billing has not seen the cart yet),
    covered (credits paid it), or the attempt's status."""
    receipt = session.execute(sa.select(invoices).where(invoices.c.cart_id == cart_id,
                                                        invoices.c.family_id == family_id)
                              .order_by(invoices.c.created_at.desc())).mappings().first()
    txs = _cart_rows(session, family_id, cart_id)
    if txs:
        return tx_view(session, txs[0])
    if receipt is None:
        return {"transaction_id": None, "status": "preparing", "amount_cents": 0, "subject": "cart",
                "cart_id": cart_id, "commune": None, "invoices": [], "payment_needed": True, "redirect": None,
                "created_at": None, "decided_at": None}
    status = "paid" if receipt["state"] == "published" and ledger.owed(receipt) == 0 else "refused"
    return {"transaction_id": None, "status": status, "amount_cents": 0, "subject": "cart", "cart_id": cart_id,
            "commune": receipt["commune"], "invoices": [{"id": receipt["id"], "number": receipt["number"]}],
            "payment_needed": False, "redirect": None, "created_at": None, "decided_at": None}


def start_cart_payment(session: Session, family_id: str, cart_id: str, body: Mapping, provider: PaymentProvider,
                       notify_url: str, email: str | None = None) -> dict:
    _check_return_url(body["return_url"])
    _lock_family(session, family_id)
    txs = _cart_rows(session, family_id, cart_id)
    if not txs:
        view = cart_payment(session, family_id, cart_id)
        if view["status"] == "preparing":
            raise Problem(409, "Votre panier est en cours de préparation pour le paiement : réessayez dans un instant.")
        return view
    row = session.execute(sa.select(payment_transactions).where(payment_transactions.c.id == txs[0]["id"])
                          .with_for_update()).mappings().one()
    if row["state"] == TransactionState.CREATED.value:
        if row["hold_expires_at"] is not None and row["hold_expires_at"] <= utcnow():
            raise Problem(409, "Le délai de paiement de ce panier est dépassé : les places ont été libérées.")
        session.execute(payment_transactions.update().where(payment_transactions.c.id == row["id"])
                        .values(return_url=body["return_url"]))
        row = {**row, "return_url": body["return_url"]}
        row = _send(session, row, provider, notify_url, f"Panier {cart_id}"[:250], email)
    return tx_view(session, row)


# --- prepaid carts from booking ----------------------------------------------------------------------------------
def on_cart_validated(session: Session, envelope: Envelope) -> None:
    """A cart awaiting payment: priced (a receipt and its attempt) or refused, and remembered as
    seen either way (cart_validations), so that its cart.abandoned.v1 is never retried for a
    receipt that will not come."""
    event = envelope.payload(booking_contract.CartValidated)
    if event.state != "awaiting_payment" or _seen(session, event.cart_id, event.validated_at):
        return  # nothing to pay, or already handled (the same validation delivered again)
    outcome = _price_cart(session, envelope, event)
    session.execute(cart_validations.insert().values(cart_id=event.cart_id, validated_at=event.validated_at,
                                                     family_id=event.family_id, outcome=outcome, seen_at=utcnow()))


def _seen(session: Session, cart_id: str, validated_at: dt.datetime) -> bool:
    """Whether billing handled this validation (a receipt alone for those handled before
    cart_validations existed)."""
    return bool(session.execute(sa.select(cart_validations.c.cart_id).where(
        cart_validations.c.cart_id == cart_id, cart_validations.c.validated_at == validated_at)).first()
        or session.execute(sa.select(invoices.c.id).where(
            invoices.c.cart_id == cart_id, invoices.c.cart_validated_at == validated_at)).first())


def _price_cart(session: Session, envelope: Envelope, event: booking_contract.CartValidated) -> str:
    """The receipt of the cart's held prepaid lines and its attempt (or its refusal): the outcome
    kept in cart_validations (receipt | nothing_prepaid | refused)."""
    from billing.provider import get_provider

    held = [line for line in event.lines if line.status == "held" and line.payment_mode == "prepaid"
            and line.action == "book"]
    if not held:
        return "nothing_prepaid"
    commune = held[0].commune
    now = utcnow()
    fail = dict(payment_id=f"cart:{event.cart_id}", cart_id=event.cart_id, family_id=event.family_id,
                failed_at=now, validated_at=event.validated_at, causation_id=envelope.id)
    grids = config.grids_by_ref(session, commune)
    account = config.accounts_of(session, commune).get(event.family_id)
    qf = account["qf"] if account else None
    names = dict(session.execute(sa.select(children.c.child_id, children.c.given_name).where(
        children.c.child_id.in_([line.child_id for line in held]))).all())
    lines = []
    for position, line in enumerate(sorted(held, key=lambda l: (names.get(l.child_id, ""), l.price_ref,
                                                                 l.session_date))):
        grid = grids.get(line.price_ref)
        if grid is None or line.commune != commune:
            log.warning("cart %s: no price grid for %s in %s: payment refused", event.cart_id, line.price_ref, commune)
            events.payment_failed(session, reason="error", **fail)
            return "refused"
        price = config.grid_from_json(grid["brackets"]).price_for(qf)
        child = names.get(line.child_id, "Enfant")
        lines.append({"position": position, "day_key": day_key(line.child_id, line.prestation_id, line.session_date),
                      "child_id": line.child_id, "child_name": child, "prestation_id": line.prestation_id,
                      "prestation_label": grid["label"], "service_label": grid["service_label"],
                      "childcare": bool(grid["childcare"]), "day": line.session_date, "reason": Reason.PRESENT.value,
                      "unit_price_cents": price, "amount_cents": price,
                      "label": line_label(child, grid["label"], line.session_date, Reason.PRESENT)})
    total = sum(line["amount_cents"] for line in lines)
    today = paris_today()
    month = Month.of(today)
    [number] = ledger.allocate_numbers(session, commune, [(Series.INVOICE, month)])
    receipt_id = str(uuid.uuid4())
    session.execute(invoices.insert().values(
        id=receipt_id, commune=commune, family_id=event.family_id,
        family_name=ledger.family_name(session, commune, event.family_id), kind="invoice", origin="cart",
        state="published", month=str(month), number=number, total_cents=total, credited_cents=0, paid_cents=0,
        remaining_cents=0, issued_on=today, published_on=today, displayed_deadline=today, last_day_online=today,
        due_on=today, direct_debit=False, cart_id=event.cart_id, cart_validated_at=event.validated_at,
        created_at=now, finalised_at=now, settled_at=now if total == 0 else None))
    session.execute(invoice_lines.insert(), [{"invoice_id": receipt_id, **line} for line in lines])
    settlement = settle_cart(total, event.family_id, commune, ledger.open_credits(session, commune, [event.family_id]))
    ledger.use_credits(session, receipt_id, settlement.credit_uses, today)
    if not settlement.payment_needed:
        session.execute(invoices.update().where(invoices.c.id == receipt_id).values(settled_at=now))
        events.payment_succeeded(session, payment_id=f"credit:{receipt_id}", cart_id=event.cart_id,
                                 family_id=event.family_id, amount_cents=0, paid_at=now,
                                 validated_at=event.validated_at, causation_id=envelope.id)
        return "receipt"
    provider = get_provider()
    low, high = _bounds(session, commune, provider)
    try:
        check_amount(settlement.to_pay_cents, low, high)
    except PaymentRuleError as exc:
        log.warning("cart %s: %s", event.cart_id, exc.detail)
        _cancel_receipt(session, receipt_id)
        events.payment_failed(session, reason="error", **fail)
        return "refused"
    _new_tx(session, commune=commune, family_id=event.family_id, provider=provider, amount=settlement.to_pay_cents,
            subject="cart", invoice_ids=[receipt_id], cart_id=event.cart_id, hold_expires_at=event.hold_expires_at)
    return "receipt"


class CartNotSeenYet(Exception):
    """cart.abandoned.v1 came before the cart.validated.v1 it follows (another queue): retried later.
    A validation billing saw and did not price (cart_validations) is not retried: nothing to close."""


def on_cart_abandoned(session: Session, envelope: Envelope) -> None:
    """booking released an awaiting cart at the parent's request: its open attempt is closed
    (abandoned; a payment notified later is a late payment, kept as a credit) and its receipt
    cancelled, credits given back, as after an expired hold but at once (booking is not told:
    it released the cart itself). If the payment was recorded first (the two crossed: booking
    recorded it as payment.after_expiry), what the family gave for the released places comes
    back as a credit note. Idempotent."""
    event = envelope.payload(booking_contract.CartAbandoned)
    receipt = session.execute(sa.select(invoices).where(
        invoices.c.cart_id == event.cart_id, invoices.c.cart_validated_at == event.validated_at,
        invoices.c.family_id == event.family_id).with_for_update()).mappings().first()
    if receipt is None:
        if _seen(session, event.cart_id, event.validated_at):
            return  # billing refused to price it, or nothing in it was prepaid: no attempt, no receipt
        raise CartNotSeenYet(f"cart {event.cart_id}: no receipt for its validation yet")
    now = utcnow()
    txs = session.execute(sa.select(payment_transactions).where(payment_transactions.c.cart_id == event.cart_id)
                          .order_by(payment_transactions.c.id).with_for_update()).mappings().all()
    for row in txs:
        if receipt["id"] in row["invoice_ids"] and TransactionState(row["state"]).is_open:
            _save_tx(session, replace(domain_tx(row), state=TransactionState.ABANDONED, decided_at=now),
                     failure="abandoned", last_checked_at=now)
    _give_back(session, receipt, f"Panier abandonné — reçu {receipt['number']}")


def on_cart_paid_after_release(session: Session, envelope: Envelope) -> None:
    """booking had released the cart's places (hold passed, payment abandoned or failed) when the
    payment.succeeded.v1 billing sent came: the payment bought nothing. The family gets it back:
    credits used go back to their credit notes, money paid becomes a credit note (once per receipt,
    shared with on_cart_abandoned). Idempotent."""
    event = envelope.payload(booking_contract.CartPaidAfterRelease)
    if event.payment_id.startswith("credit:"):  # covered by credits at validation (on_cart_validated)
        receipt_id = event.payment_id.removeprefix("credit:")
    else:
        receipt_id = next(iter(session.execute(sa.select(payment_transactions.c.invoice_ids).where(
            payment_transactions.c.payment_id == event.payment_id,
            payment_transactions.c.cart_id == event.cart_id)).scalar() or []), None)
    receipt = session.execute(sa.select(invoices).where(
        invoices.c.id == receipt_id, invoices.c.cart_id == event.cart_id, invoices.c.family_id == event.family_id)
        .with_for_update()).mappings().first() if receipt_id else None
    if receipt is None:  # billing announced this payment: it cannot be missing
        log.error("cart %s: no receipt for payment %s released by booking", event.cart_id, event.payment_id)
        return
    _give_back(session, receipt, f"Paiement reçu après la libération des places — reçu {receipt['number']}")


def _give_back(session: Session, receipt: Mapping, label: str) -> None:
    """What the family gave for a cart's receipt whose places booking released: an unpaid receipt
    is cancelled (credits used go back to their notes), a paid one becomes a credit note of what
    it received (paid and credited), once per receipt whichever event asks first."""
    if receipt["state"] != "published":
        return
    if receipt["paid_cents"] == 0:
        _cancel_receipt(session, receipt["id"])
        return
    credit_key = f"abandon:{receipt['id']}"  # the key of the first version (abandon only): kept for old rows
    if session.execute(sa.select(invoice_lines.c.id).where(invoice_lines.c.day_key == credit_key)).first():
        return
    ledger.issue_credit_note(
        session, receipt["commune"], receipt["family_id"], receipt["paid_cents"] + receipt["credited_cents"],
        label, "cart", day_key=credit_key, note=f"cart {receipt['cart_id']}: paid after its places were released")


def _cancel_receipt(session: Session, receipt_id: str) -> None:
    ledger.reverse_credit_uses(session, receipt_id)
    session.execute(invoices.update().where(invoices.c.id == receipt_id, invoices.c.paid_cents == 0)
                    .values(state="cancelled"))


# --- provider messages -----------------------------------------------------------------------------------------------
def _log(session: Session, source: str, *, tx_id: str | None = None, outcome: PaymentOutcome | None = None,
         valid: bool, effect: str | None = None, error: str | None = None, raw: dict | None = None) -> None:
    session.execute(payment_notifications.insert().values(
        transaction_id=tx_id, source=source, status=outcome.status.value if outcome else None, valid=valid,
        effect=effect, error=error, raw=raw if raw is not None else (outcome.raw if outcome else None),
        received_at=utcnow()))


def _raw_fields(body: bytes | str, query: str) -> dict:
    from urllib.parse import parse_qsl

    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    return dict(parse_qsl(text or query))  # kept for the audit log (never trusted)


def handle_notification(session: Session, provider: PaymentProvider, body: bytes | str, query: str = "") -> dict:
    """A server-to-server notification: verified, applied once, logged (refusals too: the caller
    commits, then answers `refusal` as a problem: 400 forged or unreadable, never turned into a
    payment; 404 unknown attempt; 503 the provider cannot verify it now, try again later)."""
    try:
        outcome = provider.parse_notification(body, query)
    except InvalidNotification as exc:
        _log(session, "notification", valid=False, error=exc.detail, raw=_raw_fields(body, query))
        return {"refusal": (400, exc.detail)}
    except ProviderUnavailable as exc:
        return {"refusal": (503, exc.detail)}
    try:
        return apply_provider_outcome(session, outcome)
    except Problem as problem:
        return {"refusal": (problem.status, problem.detail)}


def apply_provider_outcome(session: Session, outcome: PaymentOutcome, now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    row = session.execute(sa.select(payment_transactions).where(
        payment_transactions.c.provider_transaction_id == outcome.transaction_id).with_for_update()
    ).mappings().first()
    if row is None:
        _log(session, outcome.source, outcome=outcome, valid=True, error="unknown transaction")
        raise Problem(404, TX_NOT_FOUND)
    try:
        tx, effect = apply_outcome(domain_tx(row), outcome.status.value, outcome.amount_cents, now,
                                   outcome.bank_reference)
    except AmountMismatch as exc:
        log.error("payment %s: %s", row["id"], exc.detail)
        _log(session, outcome.source, tx_id=row["id"], outcome=outcome, valid=True, effect="amount_mismatch",
             error=exc.detail)
        return {"transaction_id": row["id"], "status": row["state"], "effect": "amount_mismatch"}
    if outcome.status.value == "paid" and outcome.amount_cents is None:
        _log(session, outcome.source, tx_id=row["id"], outcome=outcome, valid=True, effect="amount_missing",
             error="paid without an amount")
        return {"transaction_id": row["id"], "status": row["state"], "effect": "amount_missing"}
    extra = {"failure": outcome.status.value} if effect is Effect.FAILED else {}
    _save_tx(session, tx, last_checked_at=now, **extra)
    _apply_effect(session, row, tx, effect, now, reason=outcome.status.value)
    _log(session, outcome.source, tx_id=row["id"], outcome=outcome, valid=True, effect=effect.value)
    return {"transaction_id": row["id"], "status": tx.state.value, "effect": effect.value}


def _apply_effect(session: Session, row: Mapping, tx: Transaction, effect: Effect, now: dt.datetime,
                  reason: str) -> None:
    if effect in (Effect.PAYMENT, Effect.LATE_PAYMENT):
        rows = cashdesk.lock_invoices(session, row["commune"], row["family_id"], row["invoice_ids"])
        payment = cashdesk.record_payment(
            session, commune=row["commune"], family_id=row["family_id"], method=PaymentMethod.ONLINE,
            amount_cents=tx.amount_cents, invoice_rows=list(rows), received_on=paris_today(now),
            reference=tx.bank_reference or None, transaction_id=row["id"], excess="credit")
        session.execute(payment_transactions.update().where(payment_transactions.c.id == row["id"])
                        .values(payment_id=payment["id"]))
        if row["subject"] == "cart" and effect is Effect.PAYMENT:
            events.payment_succeeded(session, payment_id=payment["id"], cart_id=row["cart_id"],
                                     family_id=row["family_id"], amount_cents=tx.amount_cents, paid_at=now,
                                     validated_at=_validation_paid(session, row))
    elif effect is Effect.FAILED and row["subject"] == "cart":
        for invoice_id in row["invoice_ids"]:
            _cancel_receipt(session, invoice_id)
        events.payment_failed(session, payment_id=row["id"], cart_id=row["cart_id"], family_id=row["family_id"],
                              reason=_failure_reason(reason), failed_at=now,
                              validated_at=_validation_paid(session, row))


def _validation_paid(session: Session, row: Mapping) -> dt.datetime | None:
    """Which validation of the cart a cart attempt pays (its receipt's): booking settles that one only."""
    return session.execute(sa.select(invoices.c.cart_validated_at)
                           .where(invoices.c.id.in_(row["invoice_ids"]))).scalar()


def _failure_reason(status: str) -> str:
    return {"refused": "refused", "cancelled": "cancelled", "expired": "expired", "error": "error"}.get(status,
                                                                                                        "expired")


def handle_return(session: Session, provider: PaymentProvider, query: str, body: bytes | str = b"") -> dict:
    """The payer's browser coming back: what the provider says (display only) and our status."""
    try:
        outcome = provider.parse_return("", body) if body else None
    except InvalidNotification as exc:
        _log(session, "return", valid=False, error=exc.detail, raw=_raw_fields(body, query))
        return {"refusal": (400, exc.detail)}
    except ProviderUnavailable as exc:
        return {"refusal": (503, exc.detail)}
    from urllib.parse import parse_qs

    tx_id = (parse_qs(query).get("transaction") or [None])[0]
    query_by = (payment_transactions.c.provider_transaction_id == outcome.transaction_id if outcome
                else payment_transactions.c.id == tx_id)
    row = session.execute(sa.select(payment_transactions).where(query_by)).mappings().first() if (
        outcome or tx_id) else None
    if row is None:
        return {"refusal": (404, TX_NOT_FOUND)}
    _log(session, "return", tx_id=row["id"], outcome=outcome, valid=outcome is not None, effect="none")
    return {"transaction_id": row["id"], "status": row["state"],
            "provider_says": outcome.status.value if outcome else None, "proves_payment": False}


# --- agents: the attempts, and what needs a look ---------------------------------------------------------------------
ANOMALIES = ("amount_mismatch", "amount_missing")


def agent_transactions(session: Session, commune: str, state: str | None = None, anomalies: bool = False,
                       family_id: str | None = None, page: int = 1, per_page: int = 50) -> dict:
    """The commune's online attempts, newest first; `anomalies`: only those a provider said were
    paid for another amount (or none): never booked, for the régie to examine with the bank."""
    query = sa.select(payment_transactions).where(payment_transactions.c.commune == commune)
    if state:
        query = query.where(payment_transactions.c.state == state)
    if family_id:
        query = query.where(payment_transactions.c.family_id == family_id)
    flagged = sa.select(payment_notifications.c.transaction_id).where(payment_notifications.c.effect.in_(ANOMALIES))
    if anomalies:
        query = query.where(payment_transactions.c.id.in_(flagged))
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar()
    rows = session.execute(query.order_by(payment_transactions.c.created_at.desc(), payment_transactions.c.id)
                           .limit(per_page).offset((page - 1) * per_page)).mappings().all()
    notes: dict[str, list] = {row["id"]: [] for row in rows}
    if rows:
        for n in session.execute(sa.select(payment_notifications).where(
                payment_notifications.c.transaction_id.in_(list(notes)),
                payment_notifications.c.effect.in_(ANOMALIES)).order_by(payment_notifications.c.id)).mappings():
            notes[n["transaction_id"]].append({"effect": n["effect"], "error": n["error"],
                                               "received_at": isoformat_utc(n["received_at"])})
    items = []
    for row in rows:
        view = tx_view(session, row)
        view.pop("redirect")
        view.update(family_id=row["family_id"], provider=row["provider"], bank_reference=row["bank_reference"],
                    payment_id=row["payment_id"], anomalies=notes[row["id"]])
        items.append(view)
    return {"items": items, "total": total, "page": page, "per_page": per_page}


# --- the re-check job -----------------------------------------------------------------------------------------------
def recheck_pending(db, provider: PaymentProvider, now: dt.datetime | None = None, limit: int = 200) -> dict:
    """Attempts left open: a cart whose hold passed is failed (booking released it); one pending
    5 minutes to 3 hours is asked about where the provider can be asked; after 3 hours it expires.
    One transaction per attempt, rows locked with SKIP LOCKED (several workers can run it)."""
    now = now or utcnow()
    counts = {"checked": 0, "paid": 0, "failed": 0}
    with db.read() as session:
        ids = list(session.execute(sa.select(payment_transactions.c.id).where(
            payment_transactions.c.state.in_(["created", "pending"]),
            payment_transactions.c.created_at <= now - dt.timedelta(minutes=5))
            .order_by(payment_transactions.c.created_at).limit(limit)).scalars())
    for tx_id in ids:
        with db.transaction() as session:
            query = sa.select(payment_transactions).where(payment_transactions.c.id == tx_id)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = session.execute(query).mappings().first()
            if row is None or not TransactionState(row["state"]).is_open:
                continue
            tx = domain_tx(row)
            if needs_recheck(tx, now) and provider.can_check_status and row["provider_transaction_id"]:
                counts["checked"] += 1
                try:
                    outcome = provider.check_status(row["provider_transaction_id"], row["pending_since"] or now)
                except ProviderUnavailable:
                    outcome = None
                if outcome is not None:
                    result = apply_provider_outcome(session, outcome, now)
                    if result["effect"] in ("payment", "late_payment"):
                        counts["paid"] += 1
                    if not TransactionState(result["status"]).is_open:
                        continue
                    tx = domain_tx(session.execute(sa.select(payment_transactions).where(
                        payment_transactions.c.id == tx_id)).mappings().one())
            hold_passed = row["hold_expires_at"] is not None and row["hold_expires_at"] <= now
            if hold_passed:
                tx, effect = replace(tx, state=TransactionState.EXPIRED, decided_at=now), Effect.FAILED
            else:
                tx, effect = expire_if_stale(tx, now)
            if effect is Effect.FAILED:
                _save_tx(session, tx, failure="expired", last_checked_at=now)
                _apply_effect(session, row, tx, effect, now, reason="expired")
                counts["failed"] += 1
            else:
                session.execute(payment_transactions.update().where(payment_transactions.c.id == tx_id)
                                .values(last_checked_at=now))
    return counts

