"""CPU per cart of the gateway's booking pages, in process (issue 6, the booking rush's second half).

    .venv/bin/python bench/gateway_cart.py [--carts 300] [--repeats 5] [--lines 20] [--profile] [--count-calls] [--http-booking]
    .venv/bin/python bench/gateway_cart.py --served [--carts 300] [--repeats 5] [--concurrency 64] [--against DIR]
                                           [--booking-delay-ms MS] [--profile OUT]

Builds the gateway's app as `python -m gateway web` does (EF_ENV=development, SQLite in a
temporary directory), replaces the calls to booking by canned replies of the right shape, and
sends what a parent of bench/booking_rush.py --via gateway sends, straight to the ASGI app on a
uvloop loop: `POST /reservations/services/<id>/panier` (20 `ligne` and the CSRF token, answered
by a 302) then `POST /reservations/panier/valider` (answered by the result page). No socket,
no booking: what is left is the gateway's own work per cart (session, CSRF, form, flash,
templates, the edge and the WSGI hop). Prints the best of `--repeats` rounds of CPU time per
cart (two requests); `--profile` prints cProfile's top functions instead; `--count-calls` the
Python and C function calls per cart in every thread (a profile hook: independent of the machine's
load, so two versions compare on it on a busy machine). `--http-booking`: booking's calls go over
HTTP to a canned booking in its own process, so the calls' client side (the gateway's connection
pool, headers, JSON) is measured too (`valgrind --tool=cachegrind` of this process counts it
without the canned booking's work).

`--served`: the same carts through the gateway served as in production (`python -m gateway web`:
gunicorn, 2 uvicorn workers, SQLite) calling a canned booking over HTTP (an aiohttp process
answering the same replies), `--concurrency` parents at a time (aiohttp). CPU per cart of the
gateway's processes (psutil): what the in-process figure leaves out (HTTP parsing, the calls to
booking, the threads) and what the booking rush's "gateway" CPU per cart measures.
`PYTHONPATH=<old checkout>/gateway:<old checkout>/libs/servicekit` measures an older version.
`--served --against <old checkout>`: that version's gateway served beside this one at the same
time, the rounds alternated (A B, B A, ...): on a shared, busy machine both see the same load.
Each round's parents sign in just before it (fresh cookies), one per cart and new to the gateway
(so each cart mints its service token), as the booking rush's do.
Printed beside the CPU: its system part and the context switches per cart (every thread of the
gateway's processes). `--booking-delay-ms MS`: booking answers after 0 to 2×MS ms, so pages wait
on booking at once as in the rush. `--profile OUT`: py-spy `--gil` of this checkout's workers
during the rounds, collapsed stacks in `OUT.<pid>`.

EF_ENV=development (as the booking rush runs the gateway): its only effect on these two pages is
the template auto-reload's file check per template (~15 of ~7,600 calls per cart in process).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

SERVICE = "svc-cantine"
CHILD, PRESTATION = "child-lea", "prest-repas"


def canned_replies(lines: int) -> tuple[list[str], dict[str, dict]]:
    """The cart's dates and booking's answers to the two calls of a cart."""
    first = dt.date.today() + dt.timedelta(days=30)
    dates = [(first + dt.timedelta(days=i)).isoformat() for i in range(lines)]
    cart_lines = [{"child_id": CHILD, "prestation_id": PRESTATION, "session_date": d, "action": "book"} for d in dates]
    done = {"id": "cart-1", "state": "validated", "hold_expires_at": None,
            "lines": [{**line, "outcome": "confirmed", "reason": None, "outcome_label": "Réservation confirmée",
                       "child_name": "Léa Martin", "prestation_label": "Repas"} for line in cart_lines]}
    return dates, {"/internal/parent/cart/lines": {"id": "cart-1", "state": "open", "lines": cart_lines},
                   "/internal/parent/cart/validate": done}


def build_app(lines: int, booking_url: str | None = None):
    """The app, settings and dates; booking's calls canned in process, or sent to `booking_url`."""
    var = Path(tempfile.mkdtemp(prefix="bench-gateway-cart-"))
    os.environ.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING")
    if booking_url:
        os.environ["BOOKING_URL"] = booking_url
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import gateway
    from servicekit import migrations

    from gateway import clients
    from gateway.app import create_app
    from gateway.settings import get_settings

    settings = get_settings()
    migrations.upgrade(Path(gateway.__file__).resolve().parent.parent / "migrations", settings.database_url)
    dates, replies = canned_replies(lines)

    def canned(self, method, path, **kwargs):
        # What ServiceClient.request does before the HTTP call (the caller's token), then the reply.
        clients.service_token(clients.caller_for(clients.auth.current_user()), self.service, self.secret)
        return replies[path]

    if not booking_url:
        clients.ServiceClient.request = canned
    app = create_app(settings)
    return app, settings, dates


def session(settings, family_id: str = "fam-1") -> tuple[str, str]:
    return signed_session(settings.gateway_secret_key, family_id)


def signed_session(secret_key: str, family_id: str = "fam-1") -> tuple[str, str]:
    """A signed-in parent's `ef_session` cookie and the CSRF token of its forms."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface
    from itsdangerous import URLSafeTimedSerializer

    signer = Flask("bench")
    signer.secret_key = secret_key
    raw_csrf = secrets.token_hex(20)
    now = time.time()
    user = {"sub": "parent-1", "email": "parent@example.org", "name": "Parent Rush", "family_id": family_id,
            "communes": [{"slug": "heillecourt", "name": "Heillecourt"}], "agent_of": [], "platform_role": None}
    data = {"user": user, "auth_at": now, "seen_at": now, "gsid": secrets.token_urlsafe(16), "_permanent": True,
            "csrf_token": raw_csrf}
    cookie = SecureCookieSessionInterface().get_signing_serializer(signer).dumps(data)
    return cookie, URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token").dumps(raw_csrf)


async def post(app, path: str, form: list[tuple[str, str]], cookie: str) -> tuple[int, bytes]:
    body = urlencode(form).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*"),
                         (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode()), (b"cookie", f"ef_session={cookie}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def one_cart(app, cookie: str, csrf: str, dates: list[str]) -> None:
    form = [("csrf_token", csrf), ("mois", dates[0][:7])]
    form += [("ligne", f"{CHILD}|{PRESTATION}|{d}|book") for d in dates]
    status, _ = await post(app, f"/reservations/services/{SERVICE}/panier", form, cookie)
    assert status == 302, status
    status, page = await post(app, "/reservations/panier/valider",
                              [("csrf_token", csrf), ("idempotency_key", secrets.token_hex(16))], cookie)
    assert status == 200 and "confirm".encode() in page.lower(), (status, page[:500])


async def measure(app, credentials, dates, carts: int, repeats: int, warm_up: int = 30) -> list[float]:
    for _ in range(warm_up):
        await one_cart(app, *credentials, dates)
    rounds = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(carts):
            await one_cart(app, *credentials, dates)
        rounds.append((time.process_time() - started) / carts * 1e6)
    return rounds


# --- served: the gateway's processes against a canned booking over HTTP ------------------------------
SERVED_SECRET_KEY = "bench-gateway-cart-served-secret-key-0123456789"


def canned_booking(port: int, lines: int, delay_ms: float = 0.0) -> None:
    """booking's two answers, over HTTP (its own process: its CPU is not the gateway's), each
    after `delay_ms` (0 to twice that, uniformly: the rush's booking answers in tens to hundreds
    of ms, so many of the gateway's pages wait at once)."""
    import random

    from aiohttp import web

    _, replies = canned_replies(lines)
    bodies = {path: json.dumps(reply).encode() for path, reply in replies.items()}

    async def answer(request):
        await request.read()
        if delay_ms:
            await asyncio.sleep(random.uniform(0, 2 * delay_ms) / 1000)
        return web.Response(body=bodies[request.path], content_type="application/json")

    app = web.Application()
    for path in bodies:
        app.router.add_post(path, answer)
    app.router.add_get("/health/live", lambda _request: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def gateway_cpu(pid: int) -> tuple[float, float, int]:
    """User and system CPU seconds and context switches (voluntary + involuntary) of the gateway's processes."""
    import psutil

    root = psutil.Process(pid)
    user = system = switches = 0
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        user, system = user + times.user, system + times.system
        for task in Path(f"/proc/{proc.pid}/task").iterdir():  # every thread (psutil counts the main one's)
            status = (task / "status").read_text()
            switches += sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches:" in line)
    return user, system, switches


async def served_carts(base: str, credentials: list[tuple[str, str]], dates: list[str], carts: int,
                       concurrency: int) -> None:
    import aiohttp

    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def parent(n: int) -> None:
            cookie, csrf = credentials[n % len(credentials)]
            headers = {"Cookie": f"ef_session={cookie}"}
            form = [("csrf_token", csrf), ("mois", dates[0][:7])]
            form += [("ligne", f"{CHILD}|{PRESTATION}|{d}|book") for d in dates]
            async with slots:
                async with http.post(f"{base}/reservations/services/{SERVICE}/panier", data=form, headers=headers,
                                     allow_redirects=False) as r:
                    await r.read()
                    assert r.status == 302, r.status
                async with http.post(f"{base}/reservations/panier/valider", headers=headers, allow_redirects=False,
                                     data={"csrf_token": csrf, "idempotency_key": secrets.token_hex(16)}) as r:
                    page = await r.read()
                    assert r.status == 200 and b"confirm" in page.lower(), (r.status, page[:300])

        await asyncio.gather(*(parent(n) for n in range(carts)))


def start_served(lines: int, pythonpath: str | None = None, delay_ms: float = 0.0) -> tuple[subprocess.Popen, subprocess.Popen, str]:
    """A canned booking and `python -m gateway web` calling it (with `pythonpath`: that checkout's code)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from booking_common import PY, free_port, wait_ok

    var = Path(tempfile.mkdtemp(prefix="bench-gateway-served-"))
    booking_port, port = free_port(), free_port()
    booking = subprocess.Popen([PY, __file__, "--canned-booking", str(booking_port), "--lines", str(lines),
                                "--booking-delay-ms", str(delay_ms)])
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING",
               WEB_CONCURRENCY="2", GATEWAY_SECRET_KEY=SERVED_SECRET_KEY, BIND=f"127.0.0.1:{port}",
               BOOKING_URL=f"http://127.0.0.1:{booking_port}", IDENTITY_URL=f"http://127.0.0.1:{free_port()}")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    subprocess.run([PY, "-m", "gateway", "migrate"], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)
    gateway = subprocess.Popen([PY, "-m", "gateway", "web"], env=env, cwd=var, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_ok(f"http://127.0.0.1:{booking_port}/health/live", booking)
    wait_ok(f"http://127.0.0.1:{port}/health/live", gateway)
    return gateway, booking, f"http://127.0.0.1:{port}"


def served_profile(master: int, out: str) -> list[subprocess.Popen]:
    """py-spy (`--gil`: samples holding the GIL, i.e. on CPU in Python or C called from it) of each
    gateway worker, raw collapsed stacks into `out`.<pid> until stopped."""
    import psutil

    spy = str(Path(sys.executable).with_name("py-spy"))
    return [subprocess.Popen([spy, "record", "--gil", "--threads", "-r", "200", "--format", "raw", "-o",
                              f"{out}.{child.pid}", "--pid", str(child.pid)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            for child in psutil.Process(master).children()]


def served(args) -> dict[str, list[tuple[float, float, float]]]:
    """CPU per cart of each round, per version served ("this"; "against" with --against)."""
    here = Path(__file__).resolve().parent.parent  # this checkout's code, wherever the installed one is
    versions = {"this": f"{here / 'gateway'}:{here / 'libs' / 'servicekit'}"}
    if args.against:
        old = Path(args.against).resolve()
        versions["against"] = f"{old / 'gateway'}:{old / 'libs' / 'servicekit'}"
    running: dict[str, tuple] = {}
    try:
        for name, pythonpath in versions.items():
            running[name] = start_served(args.lines, pythonpath, args.booking_delay_ms)
        dates, _ = canned_replies(args.lines)
        for _, _, base in running.values():  # warm-up
            warm = [signed_session(SERVED_SECRET_KEY, f"fam-{n}") for n in range(100)]
            asyncio.run(served_carts(base, warm, dates, 100, args.concurrency))
        rounds: dict[str, list[tuple[float, float, float]]] = {name: [] for name in running}
        spy = served_profile(running["this"][0].pid, args.profile) if args.profile else None
        for n in range(args.repeats):
            for name in (list(running) if n % 2 == 0 else list(running)[::-1]):
                gateway, _, base = running[name]
                # One parent per cart, none seen before (as in the rush): each has its service token minted.
                credentials = [signed_session(SERVED_SECRET_KEY, f"fam-{n}-{k}") for k in range(args.carts)]
                before = gateway_cpu(gateway.pid)
                asyncio.run(served_carts(base, credentials, dates, args.carts, args.concurrency))
                user, system, switches = (b - a for a, b in zip(before, gateway_cpu(gateway.pid)))
                rounds[name].append(((user + system) / args.carts * 1e6, system / args.carts * 1e6,
                                     switches / args.carts))
        if spy:
            for proc in spy:
                proc.send_signal(signal.SIGINT)
                proc.wait(60)
        return rounds
    finally:
        for gateway, booking, _ in running.values():
            for proc in (gateway, booking):
                proc.terminate()
                proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--carts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--profile", nargs="?", const="gateway-cart.pyspy", default=None, metavar="OUT",
                        help="in process: cProfile's top functions; --served: py-spy --gil of this checkout's "
                             "workers into OUT.<pid> (collapsed stacks)")
    parser.add_argument("--served", action="store_true")
    parser.add_argument("--count-calls", action="store_true")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--against", metavar="CHECKOUT", help="with --served: that checkout's gateway beside this one")
    parser.add_argument("--http-booking", action="store_true",
                        help="in process: booking's calls over HTTP to a canned booking (their client side measured)")
    parser.add_argument("--booking-delay-ms", type=float, default=0.0, metavar="MS",
                        help="with --served: booking answers after 0 to 2×MS ms (the rush's booking is not instant)")
    parser.add_argument("--canned-booking", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.canned_booking:
        canned_booking(args.canned_booking, args.lines, args.booking_delay_ms)
        return 0
    if args.served:
        rounds = served(args)
        print(f"gateway cart ({args.lines} lines), served (gunicorn, 2 uvicorn workers) against a canned booking "
              f"over HTTP, {args.concurrency} parents at a time:")
        for name, measured in rounds.items():
            label = "" if len(rounds) == 1 else ("this checkout: " if name == "this" else f"{args.against}: ")
            values = [cpu for cpu, _, _ in measured]
            print(f"  {label}best {min(values):.0f} µs of the gateway's CPU per cart, median "
                  f"{statistics.median(values):.0f} (of which system {statistics.median(m[1] for m in measured):.0f}; "
                  f"{statistics.median(m[2] for m in measured):.1f} context switches per cart); "
                  f"rounds: {', '.join(f'{r:.0f}' for r in values)}")
        print(f"  load average {os.getloadavg()[0]:.2f}")
        return 0
    booking_url = None
    if args.http_booking:  # the calls' client side measured too: a canned booking in its own process
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from booking_common import PY, free_port, wait_ok

        port = free_port()
        canned = subprocess.Popen([PY, __file__, "--canned-booking", str(port), "--lines", str(args.lines)])
        booking_url = f"http://127.0.0.1:{port}"
        wait_ok(f"{booking_url}/health/live", canned)
    try:
        return in_process(args, booking_url)
    finally:
        if booking_url:
            canned.terminate()
            canned.wait()


def in_process(args, booking_url: str | None) -> int:
    app, settings, dates = build_app(args.lines, booking_url)
    credentials = session(settings)
    import uvloop

    if args.count_calls:
        counting = {"on": False, "calls": 0}

        def count(frame, event, arg):  # a profile hook in every thread: Python and C calls
            if counting["on"] and event in ("call", "c_call"):
                counting["calls"] += 1

        threading.setprofile(count)  # the page threads start later, with the first request
        sys.setprofile(count)
        uvloop.run(measure(app, credentials, dates, 10, 1))
        counting["on"] = True
        uvloop.run(measure(app, credentials, dates, args.carts, 1, warm_up=0))
        counting["on"] = False
        sys.setprofile(None)
        threading.setprofile(None)
        print(f"gateway cart ({args.lines} lines), in process: {counting['calls'] / args.carts:,.0f} Python and C "
              "function calls per cart (every thread)")
        return 0
    if args.profile:
        import cProfile
        import pstats

        uvloop.run(measure(app, credentials, dates, 10, 1))
        profiler = cProfile.Profile()
        profiler.enable()
        uvloop.run(measure(app, credentials, dates, args.carts, 1))
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(80)
        return 0
    rounds = uvloop.run(measure(app, credentials, dates, args.carts, args.repeats))
    print(f"gateway cart ({args.lines} lines: POST panier -> 302, POST valider -> result page), in process, "
          "booking's replies canned:")
    print(f"  best {min(rounds):.0f} µs of CPU per cart; rounds: {', '.join(f'{r:.0f}' for r in rounds)}"
          f" · load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
