"""How notify reaches its SMTP server (SMTP_TLS, SMTP_STARTTLS, SMTP_CA_FILE, credentials,
SMTP_TIMEOUT_SECONDS), against real aiosmtpd servers on loopback with a certificate made here."""
import datetime as dt
import ipaddress
import smtplib
import socket
import ssl
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servicekit.settings import ConfigError, load

from notify.mail import SmtpSender, build_message
from notify.settings import NotifySettings
from notify_test_support import Inbox, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert file, server TLS context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notify-test-smtp")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return str(cert_file), server


def settings(port, **extra) -> NotifySettings:
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TIMEOUT_SECONDS": "3"}
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return load(NotifySettings, "notify", env)


def message(to="parent@example.org"):
    return build_message(sender="Espace Famille <no-reply@espace-famille.localhost>", recipient=to,
                         subject="Test", text="Bonjour", html="<p>Bonjour</p>", message_id="<t@x>")


class Server:
    def __init__(self, **controller_args):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **controller_args)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *_):
        self.controller.stop()


def check_login(_server, _session, _envelope, mechanism, auth_data):
    # handled=False: aiosmtpd answers the failure itself (535)
    return AuthResult(success=(auth_data.login, auth_data.password) == (b"notify", b"s3cret"), handled=False)


def test_implicit_tls_with_the_configured_ca(certificate):
    cert_file, server_context = certificate
    with Server(ssl_context=server_context) as server:
        with SmtpSender(settings(server.port, smtp_tls="true", smtp_ca_file=cert_file)) as sender:
            sender.send(message())
        [received] = server.inbox.to("parent@example.org")
        assert received["Subject"] == "Test"


def test_the_servers_certificate_is_verified(certificate):
    _, server_context = certificate
    with Server(ssl_context=server_context) as server:
        with SmtpSender(settings(server.port, smtp_tls="true")) as sender:  # system CAs only
            with pytest.raises(ssl.SSLCertVerificationError):
                sender.send(message())
        assert server.inbox.messages == []


def test_starttls_then_login(certificate):
    cert_file, server_context = certificate
    with Server(tls_context=server_context, require_starttls=True, authenticator=check_login,
                auth_required=True) as server:
        ok = settings(server.port, smtp_starttls="true", smtp_ca_file=cert_file, smtp_user="notify",
                      smtp_password="s3cret")
        with SmtpSender(ok) as sender:
            sender.send(message())
        assert len(server.inbox.to("parent@example.org")) == 1
        wrong = settings(server.port, smtp_starttls="true", smtp_ca_file=cert_file, smtp_user="notify",
                         smtp_password="wrong")
        with SmtpSender(wrong) as sender:
            with pytest.raises(smtplib.SMTPAuthenticationError):  # an OSError: retried later, not lost
                sender.send(message())


def test_a_silent_server_times_out(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        start = time.monotonic()
        with SmtpSender(settings(listener.getsockname()[1], smtp_timeout_seconds="0.5")) as sender:
            with pytest.raises(OSError, match="timed out"):  # never greets: given up after SMTP_TIMEOUT_SECONDS
                sender.send(message())
        assert time.monotonic() - start < 3
    finally:
        listener.close()


def test_starttls_and_implicit_tls_exclude_each_other(capsys):
    with pytest.raises(ConfigError):
        load(NotifySettings, "notify", {"SMTP_STARTTLS": "true", "SMTP_TLS": "true"})
    assert "SMTP_TLS" in capsys.readouterr().err
