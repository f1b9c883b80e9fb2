"""The bank's transactions, kept in memory (a development bank forgets everything on restart)."""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fakebank.protocol import Outcome, PaymentForm


@dataclass
class Delivery:
    """One attempt to deliver a notification."""

    at: datetime
    source: str  # PAY, RETRY or BO
    url: str
    http_status: int | None  # None: no answer (connection refused, timeout)
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    def as_dict(self) -> dict:
        return {"at": self.at.isoformat(), "source": self.source, "url": self.url,
                "http_status": self.http_status, "error": self.error, "delivered": self.delivered}


@dataclass
class Transaction:
    form: PaymentForm
    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))  # the payment page's address
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    outcome: Outcome | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.outcome.status if self.outcome else "INITIAL"

    def as_dict(self) -> dict:
        f = self.form.fields
        return {
            "id": self.id, "site_id": f["vads_site_id"], "ctx_mode": f["vads_ctx_mode"],
            "trans_date": f["vads_trans_date"], "trans_id": f["vads_trans_id"],
            "order_id": f.get("vads_order_id", ""), "amount": int(f["vads_amount"]), "currency": f["vads_currency"],
            "status": self.status, "trans_uuid": self.outcome.trans_uuid if self.outcome else None,
            "created_at": self.created_at.isoformat(), "notification_url": self.form.notification_url,
            "notifications": [d.as_dict() for d in self.deliveries],
        }


class DuplicateTransaction(Exception):
    """The same vads_trans_id was presented again, the same day, with other content."""


class Store:
    def __init__(self, keep: int = 2000):
        self._lock = threading.Lock()
        self._by_id: dict[str, Transaction] = {}
        self._by_identity: dict[tuple, str] = {}
        self._keep = keep

    def register(self, form: PaymentForm) -> Transaction:
        """The transaction of this form: a new one, or the same one when the very same form is
        posted again (a reload, the browser's back button)."""
        with self._lock:
            known = self._by_identity.get(form.identity)
            if known is not None:
                transaction = self._by_id[known]
                if transaction.form.fields != form.fields:
                    raise DuplicateTransaction(form.identity)
                return transaction
            transaction = Transaction(form=form)
            self._by_id[transaction.id] = transaction
            self._by_identity[form.identity] = transaction.id
            while len(self._by_id) > self._keep:  # forget the oldest
                oldest = next(iter(self._by_id.values()))
                del self._by_id[oldest.id]
                self._by_identity.pop(oldest.form.identity, None)
            return transaction

    def get(self, transaction_id: str) -> Transaction | None:
        with self._lock:
            return self._by_id.get(transaction_id)

    def decide(self, transaction_id: str, status: str) -> tuple[Transaction, bool]:
        """Fix the outcome once; (transaction, True) only for the call that fixed it."""
        with self._lock:
            transaction = self._by_id[transaction_id]
            if transaction.outcome is not None:
                return transaction, False
            transaction.outcome = Outcome.decide(status)
            return transaction, True

    def record(self, transaction: Transaction, delivery: Delivery) -> None:
        with self._lock:
            transaction.deliveries.append(delivery)

    def newest_first(self) -> list[Transaction]:
        with self._lock:
            return list(reversed(self._by_id.values()))
