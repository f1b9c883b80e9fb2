"""Server-to-server notifications (IPN): a signed form POSTed to the merchant's vads_url_check.

Like Systempay: a notification counts as delivered on a 2xx answer; otherwise it is sent again
(`vads_url_check_src=RETRY`) a few times. For tests the bank can also wait before notifying,
send several identical copies at once, or never notify at all.
"""
from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from fakebank.protocol import response_fields
from fakebank.store import Delivery, Store, Transaction

log = logging.getLogger(__name__)


@dataclass
class Behaviour:
    """How notifications go out; changeable while running (PUT /settings)."""

    notify_delay: float = 0.0  # seconds between the buyer's choice and the first notification
    duplicates: int = 1  # identical copies sent at once, concurrently
    never_notify: bool = False  # the bank "forgets" to notify (the merchant must re-check)
    retries: int = 4  # further attempts when the merchant does not answer 2xx
    retry_delay: float = 60.0  # seconds between those attempts
    notify_origin: str = ""  # send to this scheme://host:port instead of the URL's own (containers)
    timeout: float = 10.0

    LIMITS = {"notify_delay": (0, 3600), "duplicates": (1, 50), "retries": (0, 20), "retry_delay": (0, 3600)}

    def as_dict(self) -> dict:
        return asdict(self)

    def update(self, changes: dict) -> None:
        """Apply changes from JSON; ValueError (French) on anything out of range."""
        for name, value in changes.items():
            if name == "never_notify":
                if not isinstance(value, bool):
                    raise ValueError("never_notify doit valoir true ou false.")
            elif name in self.LIMITS:
                low, high = self.LIMITS[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                    raise ValueError(f"{name} doit être un nombre de {low} à {high}.")
                if name in ("duplicates", "retries") and value != int(value):
                    raise ValueError(f"{name} doit être un nombre entier.")
            else:
                raise ValueError(f"Réglage inconnu : {name}.")
        for name, value in changes.items():
            setattr(self, name, int(value) if name in ("duplicates", "retries") else value)


def post_form(url: str, fields: dict[str, str], timeout: float) -> int:
    """POST the fields form-encoded; the HTTP status, or raise OSError when nothing answers."""
    data = urllib.parse.urlencode(fields).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "fakebank-ipn/1.0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class Notifier:
    def __init__(self, store: Store, behaviour: Behaviour, send=post_form):
        self.store = store
        self.behaviour = behaviour
        self._send = send

    def target(self, transaction: Transaction) -> str:
        url = transaction.form.notification_url
        origin = self.behaviour.notify_origin.rstrip("/")
        if url and origin:
            parts = urllib.parse.urlsplit(url)
            url = origin + urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return url

    def payment_decided(self, transaction: Transaction) -> None:
        """Notify the outcome as configured. With no delay the first round is sent before this
        returns (the buyer is redirected after it, as with Systempay); else in the background."""
        b = self.behaviour
        if b.never_notify or not transaction.form.notification_url:
            log.info("transaction %s: no notification (%s)", transaction.id,
                     "never-notify mode" if b.never_notify else "no vads_url_check")
            return
        copies = b.duplicates
        if b.notify_delay > 0:
            timer = threading.Timer(b.notify_delay, self._round, args=(transaction, "PAY", copies, b.retries))
            timer.daemon = True
            timer.start()
        else:
            self._round(transaction, "PAY", copies, b.retries)

    def resend(self, transaction: Transaction) -> Delivery:
        """The back office's "send the notification again" (vads_url_check_src=BO), no retries."""
        return self._deliver(transaction, "BO")

    def _round(self, transaction: Transaction, source: str, copies: int, retries_left: int) -> None:
        results: list[Delivery] = []
        threads = [threading.Thread(target=lambda: results.append(self._deliver(transaction, source)), daemon=True)
                   for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.behaviour.timeout + 5)
        if retries_left > 0 and not any(d.delivered for d in results):
            timer = threading.Timer(self.behaviour.retry_delay, self._round,
                                    args=(transaction, "RETRY", 1, retries_left - 1))
            timer.daemon = True
            timer.start()

    def _deliver(self, transaction: Transaction, source: str) -> Delivery:
        url = self.target(transaction)
        fields = response_fields(transaction.form, transaction.outcome, ipn_source=source)
        try:
            status, error = self._send(url, fields, self.behaviour.timeout), ""
        except (OSError, ValueError) as exc:
            status, error = None, str(exc)
        delivery = Delivery(at=datetime.now(timezone.utc), source=source, url=url, http_status=status, error=error)
        self.store.record(transaction, delivery)
        log.info("transaction %s: notification %s to %s -> %s", transaction.id, source, url,
                 status if status is not None else error)
        return delivery
