"""The whole protocol with real processes: `python -m billing web` (development provider settings:
Systempay through eopayment) and `python -m fakebank`, which signs, notifies three identical copies
at once, and sends the browser back. One payment, the invoice paid, the return only displayed."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import httpx
import pytest
import sqlalchemy as sa

from servicekit.testing import wait_until

from billing.models import payment_notifications, payments
from billing_testkit import SECRET, auth, past_month

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture
def platform(db_url):
    bank_port, billing_port = _port(), _port()
    env = {**os.environ, "BILLING_DATABASE_URL": db_url, "SERVICE_TOKEN_SECRET": SECRET, "EF_ENV": "development",
           "FAKEBANK_URL": f"http://127.0.0.1:{bank_port}", "BIND": f"127.0.0.1:{billing_port}",
           "BILLING_NOTIFY_URL": f"http://127.0.0.1:{billing_port}/internal/payments/notify", "WEB_CONCURRENCY": "1",
           "LOG_LEVEL": "WARNING"}
    for name in [k for k in env if k.startswith("BILLING_PAYMENT_")]:
        env.pop(name)
    processes = [
        subprocess.Popen([sys.executable, "-m", "fakebank", "--port", str(bank_port), "--duplicates", "3"], env=env,
                         cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "billing", "web"], env=env, cwd=ROOT, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_ready(f"http://127.0.0.1:{billing_port}/health/ready")
        yield f"http://127.0.0.1:{billing_port}"
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_paying_through_the_simulated_bank(world, platform):
    world.grid("REPAS", "Repas", [{"upper_qf": None, "price_cents": 425}])
    family = world.family()
    month, weekdays = past_month()
    for day in weekdays[:2]:
        world.book(family, day)
    world.run(month)
    [invoice] = world.invoices(family, "to_pay")
    billing = httpx.Client(base_url=platform, timeout=30)
    started = billing.post("/internal/parent/payments", json={"invoice_ids": [invoice["id"]],
                                                              "return_url": "http://127.0.0.1/paiement/retour"},
                           headers=auth(family.caller))
    assert started.status_code == 201, started.text
    redirect = started.json()["redirect"]
    bank = httpx.Client(timeout=30)
    posted = bank.post(redirect["url"], data={f["name"]: f["value"] for f in redirect["fields"]})
    assert posted.status_code == 303, posted.text
    page_url = urllib.parse.urljoin(redirect["url"], posted.headers["location"])
    assert bank.get(page_url).status_code == 200
    chosen = bank.post(page_url, data={"decision": "payer"})
    assert chosen.status_code == 303
    back = urllib.parse.urlsplit(chosen.headers["location"])
    assert back.path == "/paiement/retour"

    def paid() -> bool:
        with world.db.read() as s:
            return s.execute(sa.select(sa.func.count()).select_from(payments)
                             .where(payments.c.family_id == family.family_id)).scalar() == 1
    wait_until(paid, timeout=20)
    tx = started.json()["transaction_id"]
    wait_until(lambda: _notifications(world, tx) >= 3, timeout=20)  # all three copies arrived
    with world.db.read() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(payments)
                         .where(payments.c.family_id == family.family_id)).scalar() == 1
    assert world.invoices(family, "paid")[0]["paid_cents"] == 850
    # the browser's return, as the gateway forwards it: verified, shown, never booked again
    fields = dict(urllib.parse.parse_qsl(back.query, keep_blank_values=True))
    shown = billing.post(f"/internal/payments/return?transaction={fields.pop('transaction')}",
                         content=urllib.parse.urlencode(fields),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "paid" and shown.json()["provider_says"] == "paid"


def _notifications(world, tx: str) -> int:
    with world.db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(payment_notifications).where(
            payment_notifications.c.transaction_id == tx, payment_notifications.c.source == "notification")).scalar()
