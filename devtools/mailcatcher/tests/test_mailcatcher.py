"""The mail catcher over real sockets: SMTP in with smtplib, JSON out over HTTP."""
import json
import mailbox
import os
import signal
import smtplib
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import EmailMessage

import pytest

from mailcatcher.__main__ import Config
from mailcatcher.smtp import smtp_server
from mailcatcher.store import Store
from mailcatcher.web import HttpServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, store: Store):
        self.smtp_port = free_port()
        self.smtp = smtp_server(store, "127.0.0.1", self.smtp_port)
        self.http = HttpServer(store, "127.0.0.1", 0)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.port}{path}"


@pytest.fixture
def catcher_factory():
    running = []

    def start(**store_args) -> Running:
        r = Running(Store(**store_args))
        r.smtp.start()
        r.http.start()
        running.append(r)
        return r

    yield start
    for r in running:
        r.http.stop()
        r.smtp.stop()


@pytest.fixture
def catcher(catcher_factory):
    return catcher_factory()


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def french_mail(subject="Activez votre Espace Famille — Heillecourt", to="parent@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Espace Famille <no-reply@espace-famille.localhost>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Thu, 26 Nov 2026 10:00:00 +0100"
    msg.set_content("Bonjour, voici votre lien : http://127.0.0.1:8000/activation/é\n", charset="utf-8",
                    cte="quoted-printable")
    msg.add_alternative("<p lang=\"fr\">Bonjour, <a href=\"http://x/é\">activer</a> — à bientôt</p>", subtype="html",
                        charset="utf-8", cte="quoted-printable")
    return msg


def send(port: int, msg: EmailMessage, rcpt=None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(msg, to_addrs=rcpt)


def test_a_sent_message_can_be_read_back_decoded(catcher):
    raw = french_mail().as_bytes()
    assert b"=C3=A9" in raw  # really quoted-printable UTF-8 on the wire
    send(catcher.smtp_port, french_mail())
    status, listing = get(catcher.url("/messages"))
    assert status == 200
    [summary] = listing
    assert summary["from"] == "Espace Famille <no-reply@espace-famille.localhost>"
    assert summary["to"] == ["parent@example.org"]
    assert summary["subject"] == "Activez votre Espace Famille — Heillecourt"
    assert summary["date"] == "2026-11-26T09:00:00+00:00"
    status, detail = get(catcher.url(f"/messages/{summary['id']}"))
    assert status == 200
    assert detail["text"] == "Bonjour, voici votre lien : http://127.0.0.1:8000/activation/é\n"
    assert "<a href=\"http://x/é\">activer</a> — à bientôt" in detail["html"]
    headers = dict(detail["headers"])
    assert headers["Subject"] == "Activez votre Espace Famille — Heillecourt"
    assert headers["Content-Type"].startswith("multipart/alternative")


def test_newest_first_and_envelope_recipients(catcher):
    send(catcher.smtp_port, french_mail(subject="premier"))
    send(catcher.smtp_port, french_mail(subject="second"), rcpt=["a@example.org", "b@example.org"])
    _, listing = get(catcher.url("/messages"))
    assert [m["subject"] for m in listing] == ["second", "premier"]
    assert listing[0]["to"] == ["a@example.org", "b@example.org"]


def test_a_text_only_message_has_no_html(catcher):
    msg = EmailMessage()
    msg["Subject"] = "Texte seul"
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.org"
    msg.set_content("Ça marche.")
    send(catcher.smtp_port, msg)
    _, [summary] = get(catcher.url("/messages"))
    _, detail = get(catcher.url(f"/messages/{summary['id']}"))
    assert (detail["text"], detail["html"]) == ("Ça marche.\n", None)


def test_only_the_last_messages_are_kept(catcher_factory):
    catcher = catcher_factory(keep=3)
    for i in range(5):
        send(catcher.smtp_port, french_mail(subject=f"n{i}"))
    _, listing = get(catcher.url("/messages"))
    assert [m["subject"] for m in listing] == ["n4", "n3", "n2"]


def test_delete_empties_the_list(catcher):
    send(catcher.smtp_port, french_mail())
    req = urllib.request.Request(catcher.url("/messages"), method="DELETE")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 204
    assert get(catcher.url("/messages")) == (200, [])


def test_unknown_message_and_path_are_404(catcher):
    for path in ("/messages/nope", "/messages/../etc", "/nothing"):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(catcher.url(path))
        assert err.value.code == 404


def test_health(catcher):
    assert get(catcher.url("/health/live")) == (200, {"status": "ok"})


def test_maildir_keeps_a_copy_on_disk(catcher_factory, tmp_path):
    catcher = catcher_factory(maildir=tmp_path / "Maildir")
    send(catcher.smtp_port, french_mail())
    [stored] = list(mailbox.Maildir(tmp_path / "Maildir", create=False))
    assert "Heillecourt" in str(stored["Subject"]) or "Heillecourt" in stored.as_string()


def test_config_from_environment(tmp_path):
    config = Config.from_env({"MAILCATCHER_SMTP_PORT": "2525", "MAILCATCHER_MAILDIR": "on", "EF_VAR_DIR": str(tmp_path)})
    assert (config.host, config.smtp_port, config.http_port, config.keep) == ("127.0.0.1", 2525, 1080, 500)
    assert config.maildir == tmp_path / "mailcatcher"
    assert Config.from_env({}).maildir is None
    with pytest.raises(SystemExit, match="MAILCATCHER_HTTP_PORT"):
        Config.from_env({"MAILCATCHER_HTTP_PORT": "http"})


def test_the_command_runs_both_servers_and_stops_on_sigterm(tmp_path):
    smtp_port, http_port = free_port(), free_port()
    env = {**os.environ, "MAILCATCHER_SMTP_PORT": str(smtp_port), "MAILCATCHER_HTTP_PORT": str(http_port)}
    proc = subprocess.Popen([sys.executable, "-m", "mailcatcher"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()  # the start-up line comes once both servers listen
        assert f"HTTP API on http://127.0.0.1:{http_port}/messages" in line
        send(smtp_port, french_mail())
        _, [summary] = get(f"http://127.0.0.1:{http_port}/messages")
        assert summary["subject"] == "Activez votre Espace Famille — Heillecourt"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


# --- told to refuse ---------------------------------------------------------------------------------
def call(url: str, method: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_temporary_refusal_for_n_recipients_then_accepts(catcher):
    status, state = call(catcher.url("/refusals"), "POST", {"mode": "temporary", "count": 2})
    assert status == 200 and state == {"active": True, "mode": "temporary", "remaining": 2, "recipients": None,
                                       "refused": 0}
    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
            send(catcher.smtp_port, french_mail())
        [(code, reply)] = err.value.recipients.values()
        assert code == 451 and b"try again later" in reply
    send(catcher.smtp_port, french_mail())  # the third one passes
    assert len(get(catcher.url("/messages"))[1]) == 1  # refused ones were not kept
    assert get(catcher.url("/refusals"))[1] == {"active": False, "mode": None, "remaining": None, "recipients": None,
                                                 "refused": 2}


def test_permanent_refusal_of_some_addresses_until_told_otherwise(catcher):
    status, _ = call(catcher.url("/refusals"), "POST", {"mode": "permanent", "recipients": ["Gone@Example.org"]})
    assert status == 200
    for _ in range(3):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
            send(catcher.smtp_port, french_mail(to="gone@example.org"))
        assert [code for code, _ in err.value.recipients.values()] == [550]
    send(catcher.smtp_port, french_mail(to="here@example.org"))  # other addresses pass
    assert call(catcher.url("/refusals"), "DELETE")[1]["active"] is False
    send(catcher.smtp_port, french_mail(to="gone@example.org"))
    assert sorted(m["to"][0] for m in get(catcher.url("/messages"))[1]) == ["gone@example.org", "here@example.org"]


@pytest.mark.parametrize("body", [{"mode": "sometimes"}, {"mode": "permanent", "count": 0},
                                  {"mode": "permanent", "count": "3"}, {"mode": "temporary", "recipients": []},
                                  {"mode": "temporary", "extra": 1}, ["temporary"]])
def test_a_bad_refusal_rule_is_400_and_changes_nothing(catcher, body):
    status, answer = call(catcher.url("/refusals"), "POST", body)
    assert status == 400 and answer["error"]
    assert get(catcher.url("/refusals"))[1]["active"] is False
    send(catcher.smtp_port, french_mail())
