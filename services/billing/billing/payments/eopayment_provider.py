"""PaymentProvider on eopayment (Entr'ouvert's library, the one the Publik suite uses).

Any eopayment backend that answers with a URL or a form fits: `systempayv2` (Systempay, and
the simulated bank in devtools/fakebank), `payzen`, `payfip_ws` (PayFiP for public bodies)...
Backend-specific knowledge is kept to the few field names below.
"""
from __future__ import annotations

import inspect
import logging
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qs

import eopayment

from billing.payments.provider import (
    AmountOutOfRange,
    InvalidNotification,
    PaymentOutcome,
    PaymentRequest,
    PaymentStart,
    PaymentStatus,
    ProviderUnavailable,
    RequestRejected,
)

log = logging.getLogger(__name__)

_STATUS = {
    eopayment.PAID: PaymentStatus.PAID,
    eopayment.ACCEPTED: PaymentStatus.PAID,  # authorised, captured automatically (no manual validation here)
    eopayment.DENIED: PaymentStatus.REFUSED,
    eopayment.CANCELLED: PaymentStatus.CANCELLED,
    eopayment.EXPIRED: PaymentStatus.EXPIRED,
    eopayment.WAITING: PaymentStatus.PENDING,
    eopayment.RECEIVED: PaymentStatus.PENDING,
    eopayment.ERROR: PaymentStatus.ERROR,
}
# Where each backend puts the amount in cents and its own reference, most specific first.
_AMOUNT_FIELDS = ("vads_amount", "montant")
_REFERENCE_FIELDS = ("vads_trans_uuid", "numauto", "__bank_id")
# The request() keyword each backend uses for a free-text label.
_LABEL_KEYWORDS = ("info1", "subject", "objet")
# Malformed input raises these inside eopayment's parsers; anything else is the provider's trouble.
_MALFORMED = (eopayment.ResponseError, ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeError)

UNAVAILABLE = "Le service de paiement en ligne est indisponible ; réessayez plus tard."
DEFAULT_MIN_CENTS = 1
DEFAULT_MAX_CENTS = 100_000_00


def _euros(cents: int) -> str:
    """123456 -> '1 234,56 €' (French grouping with no-break spaces)."""
    whole, rest = divmod(cents, 100)
    return f"{whole:,}".replace(",", "\u202f") + f",{rest:02d}\u00a0€"


def _cents(value) -> int | None:
    if value is None:
        return None
    return int((Decimal(value) * 100).to_integral_value())


class EopaymentProvider:
    """`backend` is an eopayment backend name; `options` its options (secrets included), without
    the two URLs: `normal_return_url` and `automatic_return_url` are set per attempt."""

    def __init__(self, backend: str, options: dict, *, min_amount_cents: int | None = None,
                 max_amount_cents: int | None = None, accept_test: bool = True):
        self.name = backend
        self._options = dict(options)
        self._accept_test = accept_test
        probe = self._payment()
        self.min_amount_cents = (min_amount_cents if min_amount_cents is not None
                                 else _cents(probe.get_minimal_amount()) or DEFAULT_MIN_CENTS)
        self.max_amount_cents = (max_amount_cents if max_amount_cents is not None
                                 else _cents(probe.get_maximal_amount()) or DEFAULT_MAX_CENTS)
        self._request_keywords = set(inspect.signature(probe.backend.request).parameters)
        self._can_check_status = probe.has_payment_status

    def _payment(self, **urls) -> eopayment.Payment:
        return eopayment.Payment(self.name, {**self._options, **urls}, logger=log)

    # ------------------------------------------------------------------ starting
    def check_amount(self, amount_cents: int) -> None:
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
            raise AmountOutOfRange("Le montant doit être un nombre entier de centimes.")
        if amount_cents < self.min_amount_cents:
            raise AmountOutOfRange(f"Le paiement en ligne n'accepte pas les montants inférieurs à "
                                   f"{_euros(self.min_amount_cents)} (montant demandé : {_euros(amount_cents)}).")
        if amount_cents > self.max_amount_cents:
            raise AmountOutOfRange(f"Le paiement en ligne n'accepte pas les montants supérieurs à "
                                   f"{_euros(self.max_amount_cents)} (montant demandé : {_euros(amount_cents)}).")

    def start(self, request: PaymentRequest) -> PaymentStart:
        self.check_amount(request.amount_cents)
        payment = self._payment(normal_return_url=request.return_url, automatic_return_url=request.notify_url)
        wanted = {"transaction_id": request.transaction_id, "email": request.email, "orderid": request.order_id}
        label_keyword = next((k for k in _LABEL_KEYWORDS if k in self._request_keywords), None)
        if request.label and label_keyword:
            wanted[label_keyword] = request.label
        kwargs = {k: v for k, v in wanted.items() if v is not None and k in self._request_keywords}
        try:
            transaction_id, kind, data = payment.request(Decimal(request.amount_cents) / 100, **kwargs)
        except ValueError as exc:  # eopayment's own checks on the request
            raise RequestRejected(f"Le prestataire de paiement refuse cette demande : {exc}") from exc
        except Exception as exc:  # network or remote errors (PayFiP's web service)
            log.warning("payment provider %s: request failed: %r", self.name, exc)
            raise ProviderUnavailable(UNAVAILABLE) from exc
        if kind == eopayment.URL:
            return PaymentStart(transaction_id=str(transaction_id), method="GET", url=data)
        if kind == eopayment.FORM:
            fields = tuple((f["name"], f["value"]) for f in data.fields)
            return PaymentStart(transaction_id=str(transaction_id), method="POST", url=data.url, fields=fields)
        raise ProviderUnavailable(f"Le prestataire {self.name} répond sous une forme non prise en charge.")

    # ------------------------------------------------------------------ results
    def parse_notification(self, body: bytes | str, query_string: str = "") -> PaymentOutcome:
        return self._parse(body, query_string, "notification")

    def parse_return(self, query_string: str, body: bytes | str = b"") -> PaymentOutcome | None:
        text = _text(body) or query_string
        if not text:
            return None  # the provider sends the payer back without the result (return mode NONE)
        return self._parse(body, query_string, "return")

    def _parse(self, body: bytes | str, query_string: str, source: str) -> PaymentOutcome:
        text = _text(body) or query_string
        if not text or not parse_qs(text):
            raise InvalidNotification("Notification de paiement vide ou illisible.")
        try:
            response = self._payment().response(text)
        except _MALFORMED as exc:
            raise InvalidNotification(f"Notification de paiement invalide : {exc}") from exc
        except Exception as exc:  # e.g. PayFiP's web service unreachable while verifying
            log.warning("payment provider %s: could not verify a %s: %r", self.name, source, exc)
            raise ProviderUnavailable(UNAVAILABLE) from exc
        if not response.signed:
            raise InvalidNotification("Notification de paiement refusée : signature invalide.")
        return self._outcome(response, source)

    @property
    def can_check_status(self) -> bool:
        return self._can_check_status

    def check_status(self, transaction_id: str, started_at: datetime) -> PaymentOutcome | None:
        if not self._can_check_status:
            return None
        try:
            response = self._payment().payment_status(transaction_id, transaction_date=started_at)
        except Exception as exc:
            log.warning("payment provider %s: status of %s failed: %r", self.name, transaction_id, exc)
            raise ProviderUnavailable(UNAVAILABLE) from exc
        return self._outcome(response, "status_check")

    def _outcome(self, response, source: str) -> PaymentOutcome:
        if response.test and not self._accept_test:
            raise InvalidNotification("Notification de paiement refusée : paiement de test, seuls les paiements "
                                      "réels sont acceptés.")
        data = {str(k): str(v) for k, v in (response.bank_data or {}).items()}
        amount = next((data[name] for name in _AMOUNT_FIELDS if data.get(name, "").isdigit()), None)
        reference = next((data[name] for name in _REFERENCE_FIELDS if data.get(name)), "") or str(
            response.transaction_id or "")
        transaction_id = str(response.order_id or response.transaction_id or "")
        if not transaction_id:
            raise InvalidNotification("Notification de paiement invalide : aucune transaction n'y est nommée.")
        return PaymentOutcome(
            transaction_id=transaction_id,
            status=_STATUS.get(response.result, PaymentStatus.ERROR),
            amount_cents=int(amount) if amount is not None else None,
            bank_reference=reference,
            source=source,
            test=bool(response.test),
            message=str(response.bank_status or ""),
            transaction_date=response.transaction_date,
            raw=data,
        )


def _text(body: bytes | str) -> str:
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidNotification("Notification de paiement invalide : elle n'est pas encodée en UTF-8.")
    return body or ""
