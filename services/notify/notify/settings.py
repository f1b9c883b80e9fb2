from email.utils import parseaddr

from pydantic import Field, field_validator, model_validator

from servicekit.settings import ServiceSettings, settings_loader

SERVICE = "notify"


class NotifySettings(ServiceSettings):
    # Sender of every e-mail, display name included.
    notify_from: str = "Espace Famille <no-reply@espace-famille.localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)  # the development mail catcher
    smtp_user: str = ""
    smtp_password: str = ""
    # Transport security: STARTTLS on a plain connection (usually port 587), or implicit TLS
    # from the first byte (SMTP_TLS, usually port 465); neither for the local mail catcher.
    smtp_starttls: bool = False
    smtp_tls: bool = False
    # A PEM file of CAs to trust for the SMTP server's certificate (a relay with a private CA);
    # empty: the system's CAs. The certificate and host name are always verified.
    smtp_ca_file: str = ""
    # Connection, each command and each reply wait at most this long.
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    # How often the sending job looks for queued notifications, and how many per run.
    notify_send_interval_seconds: float = Field(default=2.0, gt=0)
    notify_send_batch: int = Field(default=50, ge=1)
    # Retries after an SMTP failure: delay = base * 2^(attempts-1), capped; failed after max.
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_retry_base_seconds: float = Field(default=30.0, gt=0)
    notify_retry_cap_seconds: float = Field(default=3600.0, gt=0)
    # Retention: a sent e-mail's bodies (they hold activation and reset links) are blanked after
    # this many hours; sent and failed notifications are deleted after this many days.
    notify_body_retention_hours: int = Field(default=72, ge=1)
    notify_retention_days: int = Field(default=90, ge=1)

    @field_validator("notify_from")
    @classmethod
    def _must_be_an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("must be an e-mail address, e.g. 'Espace Famille <no-reply@example.org>'")
        return value

    @model_validator(mode="after")
    def _one_kind_of_tls(self) -> "NotifySettings":
        if self.smtp_starttls and self.smtp_tls:
            raise ValueError("SMTP_STARTTLS and SMTP_TLS exclude each other: STARTTLS upgrades a plain "
                             "connection (port 587), SMTP_TLS is TLS from the start (port 465)")
        return self


get_settings = settings_loader(NotifySettings, SERVICE)
