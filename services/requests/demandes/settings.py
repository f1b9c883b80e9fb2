from pathlib import Path

from pydantic import Field

from servicekit.settings import ServiceSettings, settings_loader

SERVICE = "requests"


class RequestsSettings(ServiceSettings):
    # Where uploaded documents are kept: outside any web root, under random names. Default:
    # <EF_VAR_DIR>/requests-documents.
    requests_storage_dir: Path | None = None
    # ClamAV's clamd: a Unix socket, or a host and port (INSTREAM). Unset: no scan.
    requests_clamd_socket: str | None = None
    requests_clamd_host: str | None = None
    requests_clamd_port: int = Field(default=3310, ge=1, le=65535)
    requests_clamd_timeout_seconds: float = Field(default=30.0, gt=0)
    # Hard ceiling of one file, whatever a document type allows (a type's own cap is lower).
    requests_max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Drafts are deleted after this many days without a change.
    requests_draft_retention_days: int = Field(default=100, ge=1)
    # Local hour (Europe/Paris) from which the day's summary of pending requests is published.
    requests_summary_hour: int = Field(default=7, ge=0, le=23)

    @property
    def storage_dir(self) -> Path:
        return (self.requests_storage_dir or self.ef_var_dir / "requests-documents").resolve()

    @property
    def scanner_configured(self) -> bool:
        return bool(self.requests_clamd_socket or self.requests_clamd_host)


get_settings = settings_loader(RequestsSettings, SERVICE)
