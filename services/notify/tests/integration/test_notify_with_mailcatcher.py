"""Against the real development mail catcher (`python -m mailcatcher`, a separate process) told
to refuse through its JSON API: SMTP fails, then recovers, and every e-mail is sent exactly
once; an address refused for good is recorded as undeliverable, then forgotten once it works."""
import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from contracts.identity import ActivationIssued
from servicekit.testing import wait_until
from servicekit.tokens import Caller

from notify import undeliverable
from notify_test_support import free_port, identity_envelope, publish, rows

pytestmark = pytest.mark.integration


class Catcher:
    def __init__(self, http_port: int):
        self.base = f"http://127.0.0.1:{http_port}"

    def call(self, path: str, method: str = "GET", body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def received_by(self, address: str) -> list[dict]:
        return [m for m in self.call("/messages") if m["to"] == [address]]


@pytest.fixture
def catcher(smtp_port):
    http_port = free_port()
    env = {**os.environ, "MAILCATCHER_SMTP_PORT": str(smtp_port), "MAILCATCHER_HTTP_PORT": str(http_port)}
    proc = subprocess.Popen([sys.executable, "-m", "mailcatcher"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert "HTTP API on" in proc.stdout.readline()  # printed once both servers listen
    yield Catcher(http_port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def activation(address: str, commune="heillecourt"):
    return identity_envelope(ActivationIssued(
        activation_id=str(uuid.uuid4()), family_id=f"fam-{address}", commune=commune, commune_name="Heillecourt",
        family_name="Martin", email=address, link="http://127.0.0.1:8000/activation/abc",
        expires_at=datetime.now(timezone.utc) + timedelta(hours=48), existing_account=False))


def test_temporary_refusals_then_recovery_send_each_email_exactly_once(db, run_worker, catcher, amqp_vhost_url):
    catcher.call("/refusals", "POST", {"mode": "temporary", "count": 4})
    addresses = [f"parent{i}-{uuid.uuid4().hex[:6]}@example.org" for i in range(6)]
    run_worker()
    events = [activation(a) for a in addresses]
    publish(amqp_vhost_url, *events, *events)  # and every event twice
    wait_until(lambda: {r["status"] for r in rows(db)} == {"sent"} and len(rows(db)) == 6, timeout=40)
    assert catcher.call("/refusals") == {"active": False, "mode": None, "remaining": None, "recipients": None,
                                         "refused": 4}
    for address in addresses:
        assert len(catcher.received_by(address)) == 1, address
    retried = [r for r in rows(db) if r["attempts"] > 1]
    assert retried and sum(r["attempts"] - 1 for r in rows(db)) == 4  # the refused attempts, retried
    assert all(r["last_error"] is None for r in rows(db))


def test_a_permanent_refusal_is_undeliverable_until_an_email_goes_through(db, run_worker, catcher, amqp_vhost_url):
    gone = f"gone-{uuid.uuid4().hex[:6]}@example.org"
    catcher.call("/refusals", "POST", {"mode": "permanent", "recipients": [gone]})
    run_worker()
    first = activation(gone)
    publish(amqp_vhost_url, first, activation("fine@example.org"))
    [failed] = wait_until(lambda: [r for r in rows(db, recipient=gone) if r["status"] == "failed"], timeout=30)
    assert failed["attempts"] == 1 and "550" in failed["last_error"]  # no retry for a 5xx
    agent = Caller(sub="a", role="agent", commune="heillecourt")
    with db.read() as s:
        [listed] = undeliverable.list_for(s, agent)
        assert undeliverable.list_for(s, Caller(sub="b", role="agent", commune="ludres")) == []
    assert (listed["email"], listed["family_id"], listed["refusals"]) == (gone, f"fam-{gone}", 1)
    assert catcher.received_by(gone) == [] and len(catcher.received_by("fine@example.org")) == 1

    catcher.call("/refusals", "DELETE")  # the family fixed their mailbox
    publish(amqp_vhost_url, activation(gone))
    wait_until(lambda: [r for r in rows(db, recipient=gone) if r["status"] == "sent"], timeout=30)
    with db.read() as s:
        assert undeliverable.list_for(s, agent) == []
    assert len(catcher.received_by(gone)) == 1
