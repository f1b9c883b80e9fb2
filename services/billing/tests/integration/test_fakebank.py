"""The simulated bank against eopayment's own Systempay client, over real sockets.

eopayment's `systempayv2` backend, configured with the bank's site id, key and address, builds
the payment form; the bank checks it, shows its page, notifies a small merchant server and sends
the browser back. eopayment's `response()` then checks every message the bank signed.
"""
from __future__ import annotations

import html
import re
import threading
import time
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import eopayment
import pytest
import requests

from fakebank.notifier import Behaviour
from fakebank.protocol import Shop
from fakebank.web import Bank, BankServer

SITE_ID, KEY = "12345678", "ShopKeyForTheTests0123456789"


class Merchant:
    """Records the notifications it receives; answers with the next status of `answers` (then 200)."""

    def __init__(self):
        self.notifications: list[str] = []
        self.answers: list[int] = []
        self._cond = threading.Condition()
        merchant = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with merchant._cond:
                    merchant.notifications.append(body)
                    status = merchant.answers.pop(0) if merchant.answers else 200
                    merchant._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.notifications) >= count, timeout), \
                f"{len(self.notifications)} notification(s) of {count} after {timeout}s"
            return list(self.notifications)


@pytest.fixture
def merchant():
    m = Merchant()
    yield m
    m.httpd.shutdown()
    m.httpd.server_close()


@pytest.fixture
def start_bank():
    servers = []

    def start(**behaviour) -> BankServer:
        shop = Shop(site_id=SITE_ID, name="Régie de Heillecourt", key_test=KEY, key_production="ProdKey0987")
        server = BankServer(Bank({SITE_ID: shop}, Behaviour(**behaviour)), "127.0.0.1", 0)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def client(bank: BankServer, merchant: Merchant, **options) -> eopayment.Payment:
    """eopayment's Systempay client, pointed at the simulated bank."""
    return eopayment.Payment("systempayv2", {
        "service_url": f"{bank.url}/vads-payment/", "site_id": SITE_ID, "secret_test": KEY, "ctx_mode": "TEST",
        "signature_algo": "hmac_sha256", "normal_return_url": f"{merchant.url}/retour",
        "automatic_return_url": f"{merchant.url}/notification", **options})


def payment_form(payment: eopayment.Payment, amount="12.50", transaction_id="attempt-1", **kw) -> tuple[str, dict]:
    _id, kind, form = payment.request(Decimal(amount), transaction_id=transaction_id, orderid="F-2026-10-0000042",
                                      **kw)
    assert kind == eopayment.FORM
    return form.url, {field["name"]: field["value"] for field in form.fields}


def open_payment_page(session: requests.Session, url: str, fields: dict) -> requests.Response:
    posted = session.post(url, data=fields, allow_redirects=False)
    assert posted.status_code == 303, posted.text
    page = session.get(urllib.parse.urljoin(url, posted.headers["Location"]))
    assert page.status_code == 200
    return page


def choose(session: requests.Session, page: requests.Response, decision: str) -> requests.Response:
    answer = session.post(page.url, data={"decision": decision}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer


def query_of(response: requests.Response) -> str:
    return urllib.parse.urlsplit(response.headers["Location"]).query


# ------------------------------------------------------------------ the happy path

def test_a_payment_made_with_eopayment_is_notified_and_returned_signed(start_bank, merchant):
    bank = start_bank()
    payment = client(bank, merchant)
    session = requests.Session()
    page = open_payment_page(session, *payment_form(payment, info1="Factures d'octobre"))
    assert "12,50\u00a0€" in page.text and "Régie de Heillecourt" in page.text and "F-2026-10-0000042" in page.text
    for button in ("Payer", "Refuser", "Abandonner"):
        assert f'value="{button.lower()}">{button}' in page.text

    back = choose(session, page, "payer")

    (notification,) = merchant.wait_for(1)  # sent before the browser is sent back (no delay)
    response = payment.response(notification)
    assert response.signed and response.result == eopayment.PAID
    assert response.transaction_id == "attempt-1"
    assert response.bank_data["vads_amount"] == "1250" and response.bank_data["vads_trans_status"] == "AUTHORISED"
    assert response.bank_data["vads_url_check_src"] == "PAY" and len(response.bank_data["vads_hash"]) == 64
    assert response.bank_data["vads_order_info"] == "Factures d'octobre"
    assert back.headers["Location"].startswith(f"{merchant.url}/retour?")
    returned = payment.response(query_of(back))
    assert returned.signed and returned.result == eopayment.PAID and returned.transaction_id == "attempt-1"
    assert "vads_hash" not in returned.bank_data  # IPN-only fields stay out of the browser's return
    assert returned.bank_data["vads_trans_uuid"] == response.bank_data["vads_trans_uuid"]


@pytest.mark.parametrize("decision, result, status", [("refuser", eopayment.DENIED, "REFUSED"),
                                                      ("abandonner", eopayment.CANCELLED, "ABANDONED")])
def test_refused_and_abandoned_payments(start_bank, merchant, decision, result, status):
    bank = start_bank()
    payment = client(bank, merchant)
    session = requests.Session()
    back = choose(session, open_payment_page(session, *payment_form(payment)), decision)
    response = payment.response(merchant.wait_for(1)[0])
    assert response.signed and response.result == result and response.bank_data["vads_trans_status"] == status
    assert payment.response(query_of(back)).result == result


def test_specific_return_urls_and_post_return_mode(start_bank, merchant):
    bank = start_bank()
    payment = client(bank, merchant, vads_return_mode="POST")
    session = requests.Session()
    url, fields = payment_form(payment, vads_url_refused=f"{merchant.url}/refus")
    page = open_payment_page(session, url, fields)
    hand_back = session.post(page.url, data={"decision": "refuser"}, allow_redirects=False)
    assert hand_back.status_code == 200 and f'action="{merchant.url}/refus"' in hand_back.text
    hidden = dict(re_fields(hand_back.text))
    assert payment.response(urllib.parse.urlencode(hidden)).result == eopayment.DENIED


def re_fields(page: str):
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        yield name, html.unescape(value)


# ------------------------------------------------------------------ forged and replayed forms

@pytest.mark.parametrize("tamper, words", [
    (lambda f: f.update(vads_amount="1"), "Signature invalide"),
    (lambda f: f.update(vads_url_check="http://attacker.example/ipn"), "Signature invalide"),
    (lambda f: f.update(signature=f["signature"][:-4] + "AAA="), "Signature invalide"),
    (lambda f: f.pop("signature"), "la signature (champ signature) est absente"),
    (lambda f: f.update(vads_site_id="99999999"), "Boutique inconnue"),
    (lambda f: f.pop("vads_amount"), "le champ obligatoire vads_amount est absent"),
])
def test_the_bank_refuses_a_tampered_form_in_french(start_bank, merchant, tamper, words):
    bank = start_bank()
    url, fields = payment_form(client(bank, merchant))
    tamper(fields)
    answer = requests.post(url, data=fields, allow_redirects=False)
    assert answer.status_code == 400 and words in answer.text
    assert 'lang="fr"' in answer.text and "Paiement impossible" in answer.text
    assert requests.get(f"{bank.url}/transactions").json() == []


def test_a_form_signed_with_another_key_or_algorithm_is_refused(start_bank, merchant):
    bank = start_bank()
    for payment in (client(bank, merchant, secret_test="NotTheShopKey"), client(bank, merchant, signature_algo="sha1")):
        answer = requests.post(*payment_form(payment), allow_redirects=False)
        assert answer.status_code == 400 and "Signature invalide" in answer.text


def test_posting_the_same_form_again_shows_the_same_transaction_but_a_reused_id_is_refused(start_bank, merchant):
    bank = start_bank()
    payment = client(bank, merchant)
    payment.backend._vads_trans_id = "Reused"  # eopayment's own hook to fix the bank transaction id
    url, fields = payment_form(payment)
    first = requests.post(url, data=fields, allow_redirects=False)
    again = requests.post(url, data=fields, allow_redirects=False)
    assert first.headers["Location"] == again.headers["Location"]
    other = requests.post(*payment_form(payment, amount="3.00", transaction_id="attempt-2"), allow_redirects=False)
    assert other.status_code == 400 and "Transaction déjà existante" in other.text


# ------------------------------------------------------------------ forged notifications

def test_eopayment_rejects_a_tampered_notification(start_bank, merchant):
    bank = start_bank()
    payment = client(bank, merchant)
    session = requests.Session()
    choose(session, open_payment_page(session, *payment_form(payment)), "refuser")
    genuine = merchant.wait_for(1)[0]
    assert payment.response(genuine).signed
    fields = dict(urllib.parse.parse_qsl(genuine, keep_blank_values=True))
    fields.update(vads_result="00", vads_auth_result="00", vads_trans_status="AUTHORISED")
    forged = payment.response(urllib.parse.urlencode(fields))
    assert not forged.signed  # eopayment says so; billing's provider refuses it (test_fakebank_provider.py)


# ------------------------------------------------------------------ notification behaviours

def test_a_second_click_sends_nothing_more(start_bank, merchant):
    bank = start_bank()
    payment = client(bank, merchant)
    session = requests.Session()
    page = open_payment_page(session, *payment_form(payment))
    first, second = choose(session, page, "payer"), choose(session, page, "refuser")
    assert payment.response(query_of(second)).result == eopayment.PAID  # the first choice stands
    assert query_of(first) == query_of(second)
    time.sleep(0.3)
    assert len(merchant.notifications) == 1


def test_duplicate_notifications_are_identical_copies(start_bank, merchant):
    bank = start_bank(duplicates=3)
    payment = client(bank, merchant)
    session = requests.Session()
    choose(session, open_payment_page(session, *payment_form(payment)), "payer")
    copies = merchant.wait_for(3)
    assert len(set(copies)) == 1 and payment.response(copies[0]).signed
    time.sleep(0.3)
    assert len(merchant.notifications) == 3


def test_a_delayed_notification_comes_after_the_browser_is_back(start_bank, merchant):
    bank = start_bank(notify_delay=0.6)
    payment = client(bank, merchant)
    session = requests.Session()
    choose(session, open_payment_page(session, *payment_form(payment)), "payer")
    started = time.monotonic()
    assert merchant.notifications == []
    merchant.wait_for(1, timeout=5)
    assert time.monotonic() - started >= 0.4


def test_never_notify_then_the_back_office_sends_it(start_bank, merchant):
    bank = start_bank(never_notify=True)
    payment = client(bank, merchant)
    session = requests.Session()
    page = open_payment_page(session, *payment_form(payment))
    choose(session, page, "payer")
    time.sleep(0.3)
    assert merchant.notifications == []
    transaction_id = page.url.rsplit("/", 1)[1]
    detail = requests.get(f"{bank.url}/transactions/{transaction_id}").json()
    assert detail["status"] == "AUTHORISED" and detail["notifications"] == []
    sent = requests.post(f"{bank.url}/transactions/{transaction_id}/notification").json()
    assert sent["delivered"] and sent["source"] == "BO"
    response = payment.response(merchant.wait_for(1)[0])
    assert response.signed and response.result == eopayment.PAID and response.bank_data["vads_url_check_src"] == "BO"


def test_a_failed_notification_is_retried(start_bank, merchant):
    bank = start_bank(retries=2, retry_delay=0.2)
    merchant.answers = [500]
    payment = client(bank, merchant)
    session = requests.Session()
    choose(session, open_payment_page(session, *payment_form(payment)), "payer")
    first, retry = merchant.wait_for(2)
    fields = dict(urllib.parse.parse_qsl(retry, keep_blank_values=True))
    assert fields["vads_url_check_src"] == "RETRY" and payment.response(retry).signed
    time.sleep(0.5)
    assert len(merchant.notifications) == 2  # delivered: no more retries


def test_notifications_can_go_to_another_origin(start_bank, merchant):
    bank = start_bank(notify_origin=merchant.url)
    payment = client(bank, merchant, automatic_return_url="http://gateway:8000/paiements/notification?x=1")
    session = requests.Session()
    page = open_payment_page(session, *payment_form(payment))
    choose(session, page, "payer")
    assert payment.response(merchant.wait_for(1)[0]).signed
    detail = requests.get(f"{bank.url}/transactions/{page.url.rsplit('/', 1)[1]}").json()
    assert detail["notifications"][0]["url"] == f"{merchant.url}/paiements/notification?x=1"


def test_settings_change_while_running_and_bad_ones_are_refused_in_french(start_bank, merchant):
    bank = start_bank()
    assert requests.put(f"{bank.url}/settings", json={"duplicates": 2}).json()["duplicates"] == 2
    bad = requests.put(f"{bank.url}/settings", json={"duplicates": 0})
    assert bad.status_code == 400 and bad.json()["detail"] == "duplicates doit être un nombre de 1 à 50."
    assert requests.put(f"{bank.url}/settings", data="{").json()["detail"] == "Le corps n'est pas du JSON valide."
    payment = client(bank, merchant)
    session = requests.Session()
    choose(session, open_payment_page(session, *payment_form(payment)), "payer")
    assert len(merchant.wait_for(2)) == 2
