"""Configuration from environment variables only, read once at start.

Each service subclasses `ServiceSettings` to add its own variables. A missing or invalid
variable stops the process at once with a message naming it (see `load`).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SERVICE_TOKEN_SECRET = "dev-only-service-token-secret-change-me"


class ConfigError(SystemExit):
    """Raised (and exits the process) when configuration is missing or invalid."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # Which service reads these settings; set by the service, not the environment.
    service: str = Field(default="", exclude=True)
    ef_env: Literal["development", "production", "test"] = "development"
    # Per-service database. Default: an SQLite file under EF_VAR_DIR (zero-setup `make run`).
    database_url: str = ""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    service_token_secret: str = ""
    # Browser-facing base URL of the platform (the gateway).
    public_url: str = "http://127.0.0.1:8000"
    ef_var_dir: Path = Path("var")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Health details (not readiness) flag the outbox when its oldest pending row is older than this.
    outbox_lag_alert_seconds: float = Field(default=60.0, gt=0)
    # Published events are deleted from the outbox after this many hours (see outbox.purge_published).
    outbox_retention_hours: float = Field(default=72.0, gt=0)
    # The relay parks an event the broker refused this many times (see messaging.parking).
    outbox_max_attempts: int = Field(default=20, ge=1)
    # Inbox rows (events already processed) are deleted after this many days: far longer than
    # any redelivery (retries end within minutes; a duplicate publish comes within seconds).
    inbox_retention_days: float = Field(default=30.0, gt=0)

    @property
    def is_production(self) -> bool:
        return self.ef_env == "production"

    @model_validator(mode="after")
    def _defaults_and_production_rules(self):
        if not self.database_url:
            if self.is_production:
                raise ValueError("DATABASE_URL is required in production")
            self.ef_var_dir.mkdir(parents=True, exist_ok=True)
            self.database_url = f"sqlite:///{(self.ef_var_dir / f'{self.service}.db').resolve()}"
        if not self.service_token_secret:
            if self.is_production:
                raise ValueError("SERVICE_TOKEN_SECRET is required in production")
            self.service_token_secret = DEV_SERVICE_TOKEN_SECRET
        elif self.is_production and len(self.service_token_secret) < 32:
            raise ValueError("SERVICE_TOKEN_SECRET must be at least 32 characters in production")
        return self


S = TypeVar("S", bound=ServiceSettings)


def settings_loader(cls: type[S], service: str) -> Callable[[], S]:
    """A service's `get_settings`: loaded once per process (`get_settings.cache_clear()` reloads)."""
    @lru_cache
    def get_settings() -> S:
        return load(cls, service)
    return get_settings


def load(cls: type[S], service: str, env: dict[str, str] | None = None) -> S:
    """Build settings for `service` from the environment, or exit with a clear message.

    `<SERVICE>_DATABASE_URL` (e.g. IDENTITY_DATABASE_URL) wins over DATABASE_URL so that one
    environment file can describe every service.
    """
    environ = dict(os.environ if env is None else env)
    specific = environ.get(f"{service.upper()}_DATABASE_URL")
    if specific:
        environ["DATABASE_URL"] = specific
    lowered = {k.lower(): v for k, v in environ.items()}
    fields = cls.model_fields
    try:
        return cls(service=service, **{k: v for k, v in lowered.items() if k in fields and k != "service"})
    except ValidationError as exc:
        lines = [f"{service}: invalid configuration:"]
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper() or "(settings)"
            lines.append(f"  - {name}: {err['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise ConfigError(2) from None
