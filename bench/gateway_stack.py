"""CPU per request of the gateway's own ASGI stack for `GET /api/communes`, in process (issue 6).

    .venv/bin/python bench/gateway_stack.py [--requests 3000] [--repeats 7]

Builds the gateway's app as `python -m gateway web` does (EF_ENV=development, SQLite in a
temporary directory), replaces the call to identity by a canned reply (the same 98 bytes), and
sends requests straight to the ASGI app on a uvloop loop: no socket, no HTTP parsing, no
identity. What is left is what the gateway's code adds per request (edge, connexion's middleware,
the operation). Prints the best of `--repeats` rounds of CPU time (`time.process_time`) per
request: the best round is the one least disturbed by other processes on a shared machine.

With `--identity URL` the call is real: the gateway asks a running identity at every request
(GATEWAY_COMMUNES_KEPT_SECONDS=0), so the figure adds the HTTP call's client side (identity's
CPU is its own process's, not counted); `--concurrency N` keeps N requests in flight, as wrk's
connections do, instead of one at a time. `--calls` also counts the Python function calls per
request (cProfile over one more round): a figure the load of other processes does not move.

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


def build_app(identity: str | None = None):
    var = Path(tempfile.mkdtemp(prefix="bench-gateway-stack-"))
    os.environ.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING")
    if identity:
        os.environ.update(IDENTITY_URL=identity, GATEWAY_COMMUNES_KEPT_SECONDS="0")
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

    if not identity:
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


async def measure(app, requests: int, repeats: int, body: bytes = BODY, concurrency: int = 1) -> list[float]:
    first = await one(app)
    assert first[0]["status"] == 200 and first[1]["body"] == body, first

    async def serve(count: int) -> None:
        await asyncio.gather(*(_in_turn(app, count // concurrency) for _ in range(concurrency)))

    await serve(requests)  # warm-up
    rounds = []
    for _ in range(repeats):
        started = time.process_time()
        await serve(requests)
        rounds.append((time.process_time() - started) / requests * 1e6)
    return rounds


async def _in_turn(app, count: int) -> None:
    for _ in range(count):
        await one(app)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--identity", help="a running identity's URL: call it instead of a canned reply")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--calls", action="store_true", help="also count Python calls per request (cProfile)")
    args = parser.parse_args()
    app, source = build_app(args.identity)
    import requests as http
    import uvloop

    body = http.get(f"{args.identity}/internal/communes", timeout=5).content if args.identity else BODY
    rounds = uvloop.run(measure(app, args.requests, args.repeats, body, args.concurrency))
    what = f"identity at {args.identity} asked" if args.identity else "identity's reply canned"
    print(f"gateway GET /api/communes, in process, {what}, {args.concurrency} in flight ({source}):")
    print(f"  best {min(rounds):.0f} µs of CPU per request; rounds: {', '.join(f'{r:.0f}' for r in rounds)}"
          f" · load average {os.getloadavg()[0]:.2f}")
    if args.calls:
        print(f"  {uvloop.run(calls_per_request(app, args.requests, args.concurrency)):.0f} Python calls per request")
    return 0


async def calls_per_request(app, requests: int, concurrency: int) -> float:
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    await asyncio.gather(*(_in_turn(app, requests // concurrency) for _ in range(concurrency)))
    profile.disable()
    return pstats.Stats(profile).total_calls / (requests // concurrency * concurrency)


if __name__ == "__main__":
    sys.exit(main())
