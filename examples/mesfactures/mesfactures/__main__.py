"""`python -m mesfactures web`: the portal under gunicorn on BIND (default 127.0.0.1:8010).

WEB_CONCURRENCY workers (default 1). Configuration: mesfactures.settings (MESFACTURES_*);
a missing variable stops the process at start with its name.
"""
from __future__ import annotations

import os
import sys

from mesfactures.settings import ConfigError, from_env


def main(argv: list[str]) -> int:
    if argv[:1] != ["web"]:
        print("usage: python -m mesfactures web", file=sys.stderr)
        return 2
    try:
        from_env()
    except ConfigError as exc:
        print(f"mesfactures: {exc}", file=sys.stderr)
        return 2
    bind = os.environ.get("BIND") or f"127.0.0.1:{int(os.environ.get('EF_PORT_BASE', '8000')) + 10}"
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", bind,
                               "--workers", os.environ.get("WEB_CONCURRENCY", "1"), "--access-logfile", "-",
                               "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
                               "mesfactures.app:create_app()"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
