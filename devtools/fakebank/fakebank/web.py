"""The bank's HTTP side, on the standard library's threading HTTP server.

    POST /vads-payment/              the merchant's signed payment form (browser, auto-submitted)
    GET  /paiement/<id>              the payment page: Payer / Refuser / Abandonner
    POST /paiement/<id>              the buyer's choice -> notification(s), then back to the merchant
    GET  /transactions[/<id>]        JSON, for tests and curious developers
    POST /transactions/<id>/notification   send the notification again (like the back office)
    GET|PUT /settings                JSON: notify_delay, duplicates, never_notify, retries, retry_delay
    GET  /health/live
"""
from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakebank import pages
from fakebank.notifier import Behaviour, Notifier
from fakebank.protocol import ABANDONED, AUTHORISED, REFUSED, FormError, Shop, parse_form, response_fields
from fakebank.store import DuplicateTransaction, Store

log = logging.getLogger(__name__)

DECISIONS = {"payer": AUTHORISED, "refuser": REFUSED, "abandonner": ABANDONED}
_PAGE = re.compile(r"^/paiement/([A-Za-z0-9_-]{10,64})$")
_TRANSACTION = re.compile(r"^/transactions/([A-Za-z0-9_-]{10,64})(/notification)?$")
_MAX_BODY = 64 * 1024


class Bank:
    """Everything a request handler needs."""

    def __init__(self, shops: Mapping[str, Shop], behaviour: Behaviour | None = None, store: Store | None = None,
                 send=None):
        self.shops = dict(shops)
        self.behaviour = behaviour or Behaviour()
        self.store = store or Store()
        self.notifier = Notifier(self.store, self.behaviour, **({"send": send} if send else {}))


def make_handler(bank: Bank) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fakebank"

        # ------------------------------------------------------------------ routing
        def do_GET(self):
            path = self._path()
            if path == "/health/live":
                return self._json({"status": "ok"})
            if path == "/":
                return self._html(pages.home_page(bank.store.newest_first()))
            if path == "/settings":
                return self._json(bank.behaviour.as_dict())
            if path == "/transactions":
                return self._json([t.as_dict() for t in bank.store.newest_first()])
            match = _TRANSACTION.match(path)
            if match and not match.group(2):
                transaction = bank.store.get(match.group(1))
                if transaction is not None:
                    return self._json(transaction.as_dict())
            match = _PAGE.match(path)
            if match:
                return self._show(match.group(1))
            return self._not_found()

        def do_POST(self):
            try:
                return self._post(self._path())
            except FormError as exc:  # a body too large or not UTF-8
                return self._html(pages.error_page(exc.message), HTTPStatus.BAD_REQUEST)

        def _post(self, path: str):
            if path in ("/vads-payment", "/vads-payment/"):
                return self._receive_form()
            match = _PAGE.match(path)
            if match:
                return self._decide(match.group(1))
            match = _TRANSACTION.match(path)
            if match and match.group(2):
                return self._resend(match.group(1))
            return self._not_found()

        def do_PUT(self):
            if self._path() != "/settings":
                return self._not_found()
            try:
                try:
                    changes = json.loads(self._body() or b"{}")
                except json.JSONDecodeError:
                    raise ValueError("Le corps n'est pas du JSON valide.")
                if not isinstance(changes, dict):
                    raise ValueError("Le corps doit être un objet JSON.")
                bank.behaviour.update(changes)
            except (ValueError, UnicodeDecodeError, FormError) as exc:
                return self._json({"detail": str(exc)}, HTTPStatus.BAD_REQUEST)
            return self._json(bank.behaviour.as_dict())

        # ------------------------------------------------------------------ payment
        def _receive_form(self):
            try:
                form = parse_form(self._form(), bank.shops)
                transaction = bank.store.register(form)
            except FormError as exc:
                log.info("payment form refused: %s", exc.message)
                return self._html(pages.error_page(exc.message), HTTPStatus.BAD_REQUEST)
            except DuplicateTransaction:
                return self._html(pages.error_page(
                    "Transaction déjà existante : cet identifiant de transaction (vads_trans_id) a déjà servi "
                    "aujourd'hui pour un autre paiement."), HTTPStatus.BAD_REQUEST)
            # Post/redirect/get: reloading the payment page never posts the form again.
            self._redirect(f"/paiement/{transaction.id}")

        def _show(self, transaction_id: str):
            transaction = bank.store.get(transaction_id)
            if transaction is None:
                return self._not_found()
            if transaction.outcome is not None:
                return self._html(pages.result_page(transaction, transaction.form.return_url(transaction.status)))
            return self._html(pages.payment_page(transaction))

        def _decide(self, transaction_id: str):
            if bank.store.get(transaction_id) is None:
                return self._not_found()
            decision = DECISIONS.get((self._form().get("decision") or [""])[0])
            if decision is None:
                message = "Choix inconnu : utilisez les boutons Payer, Refuser ou Abandonner."
                return self._html(pages.error_page(message), HTTPStatus.BAD_REQUEST)
            transaction, first = bank.store.decide(transaction_id, decision)
            if first:  # a second click only takes the buyer back again
                log.info("transaction %s: %s", transaction.id, transaction.status)
                bank.notifier.payment_decided(transaction)
            self._hand_back(transaction)

        def _hand_back(self, transaction):
            form, status = transaction.form, transaction.status
            url = form.return_url(status)
            if not url:
                return self._html(pages.result_page(transaction, ""))
            if form.return_mode == "NONE":
                return self._redirect(url)
            fields = response_fields(form, transaction.outcome)
            if form.return_mode == "POST":
                return self._html(pages.hand_back_page(url, fields))
            self._redirect(url + ("&" if "?" in url else "?") + urllib.parse.urlencode(fields))

        def _resend(self, transaction_id: str):
            transaction = bank.store.get(transaction_id)
            if transaction is None:
                return self._not_found()
            if transaction.outcome is None or not transaction.form.notification_url:
                return self._json({"detail": "Rien à notifier : paiement non terminé ou sans vads_url_check."},
                                  HTTPStatus.CONFLICT)
            return self._json(bank.notifier.resend(transaction).as_dict())

        # ------------------------------------------------------------------ plumbing
        def _path(self) -> str:
            return urllib.parse.urlsplit(self.path).path

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                raise FormError("Formulaire trop volumineux.")
            return self.rfile.read(length) if length > 0 else b""

        def _form(self) -> dict[str, list[str]]:
            try:
                text = self._body().decode("utf-8")
            except UnicodeDecodeError:
                raise FormError("Formulaire invalide : il n'est pas encodé en UTF-8.")
            return urllib.parse.parse_qs(text, keep_blank_values=True)

        def _send(self, status: HTTPStatus, content_type: str, data: bytes, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _html(self, page: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            self._send(status, "text/html; charset=utf-8", page.encode("utf-8"),
                       {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                        "script-src 'unsafe-inline'; form-action *"})

        def _json(self, body, status: HTTPStatus = HTTPStatus.OK) -> None:
            self._send(status, "application/json; charset=utf-8", json.dumps(body, ensure_ascii=False).encode())

        def _redirect(self, location: str) -> None:
            self._send(HTTPStatus.SEE_OTHER, "text/plain; charset=utf-8", b"", {"Location": location})

        def _not_found(self) -> None:
            self._html(pages.error_page("Page introuvable."), HTTPStatus.NOT_FOUND)

        def log_message(self, fmt, *args):  # access logs through logging, not stderr
            log.debug("%s " + fmt, self.address_string(), *args)

    return Handler


class BankServer:
    """The bank served from a background thread."""

    def __init__(self, bank: Bank, host: str, port: int):
        self.bank = bank
        self.httpd = ThreadingHTTPServer((host, port), make_handler(bank))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), name="fakebank-http",
                                        daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
