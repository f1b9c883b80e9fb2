"""Billing's payment provider, configured as in development, against the simulated bank run
the way `make run` runs it (`python -m fakebank`, its own process); and the bank's page in a
phone-sized headless Chromium with axe-core."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from billing.payments import InvalidNotification, PaymentRequest, PaymentStatus, provider_from_env

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """The merchant's notification URL: keeps the raw bodies, as billing's endpoint would get them."""

    def __init__(self):
        self.bodies: list[bytes] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                inbox.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def wait(self, count: int, timeout: float = 10) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.bodies) >= count, f"{len(self.bodies)} notification(s) of {count}"
        return self.bodies


@pytest.fixture(scope="module")
def bank_process():
    """`python -m fakebank` with its development defaults (the shop billing knows by default)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEBANK_")}
    proc = subprocess.Popen([sys.executable, "-m", "fakebank", "--port", str(port), "--notify-delay", "0",
                             "--duplicates", "2", "--retries", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health/live", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"fakebank did not start: {proc.stdout.read()}")
    yield url, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def inbox():
    box = Inbox()
    yield box
    box.httpd.shutdown()
    box.httpd.server_close()


def provider_for(bank_url: str):
    return provider_from_env({"FAKEBANK_URL": bank_url})  # otherwise the development defaults


def start_payment(bank_url: str, inbox: Inbox, transaction_id: str, amount_cents: int = 4280):
    provider = provider_for(bank_url)
    start = provider.start(PaymentRequest(transaction_id=transaction_id, amount_cents=amount_cents,
                                          return_url=f"{inbox.url}/retour", notify_url=f"{inbox.url}/notification",
                                          label="Panier de réservations", order_id="P-2026-10-0000007"))
    assert start.is_form and start.url == f"{bank_url}/vads-payment/"
    return provider, start


def pay(start, decision: str) -> requests.Response:
    session = requests.Session()
    posted = session.post(start.url, data=dict(start.fields), allow_redirects=False)
    assert posted.status_code == 303, posted.text
    page_url = urllib.parse.urljoin(start.url, posted.headers["Location"])
    answer = session.post(page_url, data={"decision": decision}, allow_redirects=False)
    assert answer.status_code == 303
    return answer


def test_billing_development_defaults_pay_through_the_running_bank(bank_process, inbox):
    bank_url, _proc = bank_process
    provider, start = start_payment(bank_url, inbox, "5b0e7d0c-0000-4000-8000-000000000001")
    back = pay(start, "payer")
    first, second = inbox.wait(2)  # the bank runs with --duplicates 2
    assert first == second
    outcome = provider.parse_notification(first)
    assert outcome.status is PaymentStatus.PAID and outcome.proves_payment
    assert outcome.transaction_id == start.transaction_id == "5b0e7d0c-0000-4000-8000-000000000001"
    assert outcome.amount_cents == 4280 and len(outcome.bank_reference) == 32 and outcome.test
    shown = provider.parse_return(urllib.parse.urlsplit(back.headers["Location"]).query)
    assert shown.status is PaymentStatus.PAID and not shown.proves_payment
    assert shown.bank_reference == outcome.bank_reference


def test_billing_refuses_a_forged_notification_from_a_refusal(bank_process, inbox):
    bank_url, _proc = bank_process
    provider, start = start_payment(bank_url, inbox, "5b0e7d0c-0000-4000-8000-000000000002")
    pay(start, "refuser")
    genuine = inbox.wait(2)[0]
    assert provider.parse_notification(genuine).status is PaymentStatus.REFUSED
    fields = dict(urllib.parse.parse_qsl(genuine.decode(), keep_blank_values=True))
    fields.update(vads_result="00", vads_auth_result="00", vads_trans_status="AUTHORISED")
    with pytest.raises(InvalidNotification, match="signature invalide"):
        provider.parse_notification(urllib.parse.urlencode(fields).encode())


def test_the_bank_process_stops_cleanly_on_sigterm(bank_process):
    _url, proc = bank_process
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


# ------------------------------------------------------------------ the page in a browser

@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-system` (scripts/install-system-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield browser
        browser.close()


@pytest.mark.integration  # needs the system's Chromium (make install-system): kept out of `make test-unit`
def test_the_payment_page_is_accessible_on_a_360px_phone(browser, inbox):
    from axe_playwright_python.sync_playwright import Axe

    from fakebank.__main__ import bank_from_args, parser
    from fakebank.web import BankServer

    bank = BankServer(bank_from_args(parser({}).parse_args(["--port", "0"])), "127.0.0.1", 0)
    bank.start()
    try:
        _provider, start = start_payment(bank.url, inbox, "5b0e7d0c-0000-4000-8000-000000000003", 123456)
        context = browser.new_context(locale="fr-FR", viewport={"width": 360, "height": 740})
        page = context.new_page()
        # The merchant's auto-submitted form, as billing's page would send it.
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in start.fields)
        page.set_content(f'<form method="post" action="{start.url}">{inputs}</form>')
        with page.expect_navigation():
            page.evaluate("document.forms[0].submit()")
        axe = Axe()
        for step in ("payment page", "error page"):
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, f"{step} scrolls sideways"
            bad = axe.run(page).response["violations"]  # any impact: a small page has no excuse
            assert not bad, f"{step}: {[(v['id'], v['help']) for v in bad]}"
            if step == "payment page":
                assert page.get_by_text("1\u202f234,56\u00a0€").first.is_visible()
                for name in ("Payer 1\u202f234,56\u00a0€", "Refuser", "Abandonner"):
                    assert page.get_by_role("button", name=name).is_visible()
                page.goto(f"{bank.url}/paiement/unknown-transaction")
        assert "Page introuvable" in page.content()
        context.close()
    finally:
        bank.stop()


# ------------------------------------------------------------------ `make run` wiring

def test_make_run_starts_the_bank_where_billing_looks_for_it(tmp_path):
    import argparse
    import importlib.util

    script = Path(__file__).resolve().parents[4] / "scripts" / "run_platform.py"
    spec = importlib.util.spec_from_file_location("run_platform_under_test", script)
    run_platform = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_platform)
    args = argparse.Namespace(port_base=9100, db="sqlite", pg_prefix="unused")
    env = run_platform.build_env(args, tmp_path)
    (line,) = [ln for ln in run_platform.procfile(args, env).splitlines() if ln.startswith("fakebank:")]
    assert line.endswith("-m fakebank --port 9190") and env["FAKEBANK_URL"] == "http://127.0.0.1:9190"
    start = provider_from_env(env).start(PaymentRequest(transaction_id="t", amount_cents=100,
                                                        return_url="http://127.0.0.1:9100/r",
                                                        notify_url="http://127.0.0.1:9100/n"))
    assert start.url == "http://127.0.0.1:9190/vads-payment/"
