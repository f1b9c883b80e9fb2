#!/usr/bin/env python3
"""Container health checks for Espace Famille images (standard library only).

    ef-healthcheck http URL          exit 0 when GET URL answers 2xx within the timeout
    ef-healthcheck worker            exit 0 when this container holds an ESTABLISHED TCP
                                     connection to the broker port of $AMQP_URL (the worker's
                                     relay and consumers keep one each; none means the worker
                                     is stuck reconnecting or has lost the broker)
    ef-healthcheck smtp HOST:PORT    exit 0 when an SMTP server there greets with 220

Used by docker-compose.yml healthchecks (python:3.11-slim has neither curl nor wget).
Prints one line saying why it failed, so `docker inspect` shows a useful reason.
"""
from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT = 4.0
ESTABLISHED = "01"
TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def check_http(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            if 200 <= resp.status < 300:
                return None
            return f"{url}: HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


def established_remote_ports(tables=TCP_TABLES) -> set[int]:
    ports: set[int] = set()
    for table in tables:
        try:
            with open(table) as fh:
                next(fh, None)  # header
                for line in fh:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == ESTABLISHED:
                        ports.add(int(fields[2].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            continue
    return ports


def check_worker(amqp_url: str | None, tables=TCP_TABLES) -> str | None:
    if not amqp_url:
        return "AMQP_URL is not set"
    parts = urlsplit(amqp_url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    if port in established_remote_ports(tables):
        return None
    return f"no established connection to the broker port {port}"


def check_smtp(target: str) -> str | None:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            greeting = sock.recv(512)
            sock.sendall(b"QUIT\r\n")
    except OSError as exc:
        return f"{target}: {exc}"
    if greeting.startswith(b"220"):
        return None
    return f"{target}: unexpected greeting {greeting[:60]!r}"


def main(argv: list[str]) -> int:
    import os

    if len(argv) == 2 and argv[0] == "http":
        error = check_http(argv[1])
    elif len(argv) == 1 and argv[0] == "worker":
        error = check_worker(os.environ.get("AMQP_URL"))
    elif len(argv) == 2 and argv[0] == "smtp":
        error = check_smtp(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if error:
        print(f"unhealthy: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
