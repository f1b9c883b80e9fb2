"""Building the MIME message of a notification and handing it to the SMTP server."""
from __future__ import annotations

import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from notify.settings import NotifySettings


def message_id_for(notification_id: str, sender: str) -> str:
    """The same Message-ID for every attempt of one notification (duplicates are recognisable)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "espace-famille.localhost"
    # Short enough that the header is never folded (78 columns) with the usual domains.
    return f"<{notification_id.replace('-', '')}@{domain}>"


def build_message(*, sender: str, recipient: str, subject: str, text: str, html: str, message_id: str,
                  date: datetime | None = None) -> EmailMessage:
    """multipart/alternative: the plain text first, the HTML last (the preferred part)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id
    # RFC 3834: an automatic message; well-behaved autoresponders do not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the parts: set_content() clears every Content-* header.
    msg["Content-Language"] = "fr"
    return msg


def envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1]


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): retrying cannot help."""


class SmtpSender:
    """One SMTP connection, opened on first use and reused for a batch of messages."""

    def __init__(self, settings: NotifySettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        """Hand `msg` over; raise PermanentFailure (5xx) or another error (worth retrying)."""
        smtp = self._connection()
        try:
            refused = smtp.send_message(msg, from_addr=envelope_sender(self.settings.notify_from))
        except smtplib.SMTPRecipientsRefused as exc:
            self._raise_classified(exc, [code for code, _ in exc.recipients.values()])
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._raise_classified(exc, [exc.smtp_code])
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()  # the connection is unusable: the next message reconnects
            raise
        if refused:  # only some recipients refused: we always send to one, so this is all of them
            self._raise_classified(smtplib.SMTPRecipientsRefused(refused), [c for c, _ in refused.values()])

    def _raise_classified(self, exc: Exception, codes: list[int]):
        if codes and all(code >= 500 for code in codes):
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc
        raise exc

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            if s.smtp_tls:
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds,
                                        context=self._tls_context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            try:
                if s.smtp_starttls:
                    smtp.starttls(context=self._tls_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password)
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.smtp_ca_file or None)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> "SmtpSender":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
