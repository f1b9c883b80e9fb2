"""CPU per request of the gateway's own ASGI stack for `GET /api/communes`, in process (issue 6).

    .venv/bin/python bench/gateway_stack.py [--requests 3000] [--repeats 7]

Builds the gateway's app as `python -m gateway web` does (EF_ENV=development, SQLite in a
temporary directory), replaces the call to identity by a canned reply (the same 98 bytes), and
sends requests straight to the ASGI app on a uvloop loop: no socket, no HTTP parsing, no
identity. What is left is what the gateway's code adds per request (edge, connexion's middleware,
the operation). Prints the best of `--repeats` rounds of CPU time (`time.process_time`) per
request: the best round is the one least disturbed by other processes on a shared machine.

To compare with another commit, run it with that commit's packages first on the path:
    git archive <commit> libs/servicekit gateway | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/libs/servicekit:/tmp/old/gateway .venv/bin/python bench/gateway_stack.py
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

BODY = b'{"items": [{"slug": "heillecourt", "name": "Heillecourt"}, {"slug": "ludres", "name": "Ludres"}]}'
SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
         "path": "/api/communes", "raw_path": b"/api/communes", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


def build_app():
    var = Path(tempfile.mkdtemp(prefix="bench-gateway-stack-"))
    os.environ.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING")
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import gateway
    from servicekit import migrations

    from gateway import api_clients
    from gateway.app import create_app
    from gateway.settings import get_settings

    settings = get_settings()
    migrations.upgrade(Path(gateway.__file__).resolve().parent.parent / "migrations", settings.database_url)

    async def canned_call(service, method, path, **_kwargs):
        return api_clients.Reply(200, "application/json", BODY)

    api_clients.call = canned_call
    return create_app(settings), gateway.__file__


async def one(app) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(dict(SCOPE), receive, send)
    return sent


async def measure(app, requests: int, repeats: int) -> list[float]:
    first = await one(app)
    assert first[0]["status"] == 200 and first[1]["body"] == BODY, first
    for _ in range(requests):  # warm-up
        await one(app)
    rounds = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(requests):
            await one(app)
        rounds.append((time.process_time() - started) / requests * 1e6)
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    app, source = build_app()
    import uvloop

    rounds = uvloop.run(measure(app, args.requests, args.repeats))
    print(f"gateway GET /api/communes, in process, identity's reply canned ({source}):")
    print(f"  best {min(rounds):.0f} µs of CPU per request; rounds: {', '.join(f'{r:.0f}' for r in rounds)}"
          f" · load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
