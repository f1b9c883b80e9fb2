"""`python -m mailcatcher`: run the SMTP server and the HTTP API until SIGINT/SIGTERM."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from mailcatcher.smtp import smtp_server
from mailcatcher.store import Store
from mailcatcher.web import HttpServer

log = logging.getLogger("mailcatcher")


@dataclass(frozen=True)
class Config:
    host: str
    smtp_port: int
    http_port: int
    keep: int
    maildir: Path | None

    @classmethod
    def from_env(cls, env=os.environ) -> "Config":
        def number(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name, str(default))
            try:
                value = int(raw)
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                raise SystemExit(f"mailcatcher: {name} must be an integer from {low} to {high}, not {raw!r}")
            return value

        maildir_flag = env.get("MAILCATCHER_MAILDIR", "off").lower()
        if maildir_flag not in ("on", "off", "1", "0", "true", "false"):
            raise SystemExit(f"mailcatcher: MAILCATCHER_MAILDIR must be on or off, not {maildir_flag!r}")
        maildir = Path(env.get("EF_VAR_DIR", "var")) / "mailcatcher" if maildir_flag in ("on", "1", "true") else None
        return cls(
            host=env.get("MAILCATCHER_HOST", "127.0.0.1"),
            smtp_port=number("MAILCATCHER_SMTP_PORT", 1025, 1, 65535),
            http_port=number("MAILCATCHER_HTTP_PORT", 1080, 1, 65535),
            keep=number("MAILCATCHER_KEEP", 500, 1, 100_000),
            maildir=maildir,
        )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mailcatcher %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    config = Config.from_env()
    store = Store(keep=config.keep, maildir=config.maildir)
    smtp = smtp_server(store, config.host, config.smtp_port)
    http = HttpServer(store, config.host, config.http_port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    smtp.start()
    http.start()
    log.info("SMTP on %s:%d, HTTP API on http://%s:%d/messages%s", config.host, config.smtp_port, config.host,
             config.http_port, f", Maildir {config.maildir}" if config.maildir else "")
    stop.wait()
    http.stop()
    smtp.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
