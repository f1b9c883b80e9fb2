"""A booking rush on booking's API (issue 8): many parents at once fill a cart of 20 dates and
validate it ("Valider"), on PostgreSQL, beside the raw PostgreSQL single-row transaction rate
measured in the same run.

    .venv/bin/python bench/booking_rush.py [--parents 400] [--lines 20] [--pool 25] [--prestations 1]
        [--capacity-ratio 0.7] [--concurrency 64] [--warmup 64] [--out FILE]

Setup: a fresh PostgreSQL database, `python -m booking migrate`, `python -m booking web`
(gunicorn, 2 uvicorn workers, as in production). Through booking's agent API (a service token of
an agent the agents projection knows): a commune calendar, a service and `--prestations`
prestations (Monday to Friday from today, booking until the day before at 12:00, invoiced at the
end of the month: lines are confirmed at once) whose capacity per date is `--capacity-ratio` of the
expected demand, so that dates fill up and the capacity rule is exercised. `--parents` families
(one child each, enrolled) are written in bulk into booking's projections, as identity's events
would. Each parent picks `--lines` dates at random among the first `--pool` open dates of its
prestation (parent i uses prestation i mod --prestations).

Rush: `--concurrency` parents at a time (asyncio + aiohttp, one connection each, the next parent
starting as soon as one is done; every parent is queued at once) sends
`POST /internal/parent/cart/lines` (its 20 lines) then `POST /internal/parent/cart/validate`
with an `Idempotency-Key` (a 409 "retry" is retried with the same key). Figures: confirmed
bookings per second over the whole rush (first request to last answer), validations per second,
p50/p99 of the validation request, outcomes; afterwards SQL checks that no séance holds more
bookings than its capacity (overbooked must be 0) and that the counters agree with the bookings.

Before the measured rush, `--warmup` other parents (default 64, one wave) rush a prestation of
their own through the same path, unmeasured: servers in production are warm (templates
compiled, statements prepared, pools filled); their bookings are not counted. The bench client's
own CPU per cart is reported beside the servers' (it shares the machine).

Baseline, same run, same database: pgbench, one-row INSERT per transaction, 16 clients, before
and after the rush. Goal (issue 8): ≥ 1,000 confirmed bookings/s.

`--via gateway` (and `both`, the default: one rush each, each on its own fresh database, in the
same run): the same parents go through the gateway's booking pages as a browser does, the gateway
started as in production too (`python -m gateway web`, 2 workers, its own SQLite database). Each
parent has a signed-in gateway session: the session cookie is signed with the gateway's secret
key as after an identity sign-in (as the gateway's page tests do: gateway/tests/helpers.py
`session_cookie`), with its CSRF token, so identity takes no part. The parent posts the
calendar's form (`POST /reservations/services/<service>/panier`: 20 `ligne` checkboxes and the
csrf_token, answered by a 302 to the calendar, not followed) then "Valider" (`POST
/reservations/panier/valider` with the csrf_token and the form's idempotency_key, answered by the
result page; a 409 page is posted again with the same key). The confirmed bookings are counted
in booking's database afterwards. Not measured: the pages a browser loads around these two POSTs
(the calendar after the redirect, the cart page before "Valider").
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_common import (PY, SECRET, agent_token, booking_command, booking_env, create_database,  # noqa: E402
                            free_port, load_average, parent_token, start_booking, stop, wait_ok)

COMMUNE = "rush"
AGENT = "bench-agent"
GATEWAY_SECRET = "bench-booking-rush-gateway-secret-key-0123456789"


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))


def pgbench(url: str, var: Path, seconds: int, clients: int = 16) -> float:
    """Raw single-row transactions per second: one INSERT per transaction, prepared."""
    script = var / "one_row.sql"
    script.write_text("\\set r random(1, 1000000)\nINSERT INTO bench_raw (v) VALUES (:r);\n")
    dbname = sa.make_url(url).database
    out = subprocess.run(["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-M", "prepared", "-f", str(script),
                          "-c", str(clients), "-j", "2", "-T", str(seconds), dbname],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def profile(pid: int, out: Path) -> subprocess.Popen:
    """py-spy samples the booking web workers (children of `pid`) into `out` (collapsed stacks);
    `--gil`: only the thread holding the GIL, so the stacks show where the CPU goes, not where
    threads wait for the database."""
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                            "--subprocesses", "--format", "raw", "--rate", "100", "--nonblocking", "--gil", "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)  # py-spy attaches
    return spy


def cpu_seconds(master: int, engine: sa.Engine) -> dict[int, float]:
    """CPU time (user + system) of every booking web process and of every PostgreSQL backend of
    the bench's database, by pid."""
    import psutil

    with engine.connect() as conn:
        backends = [r[0] for r in conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
    out = {}
    root = psutil.Process(master)
    for proc in [root, *root.children(recursive=True), *(psutil.Process(pid) for pid in backends
                                                         if psutil.pid_exists(pid))]:
        try:
            times = proc.cpu_times()
            out[proc.pid] = ("pg" if proc.pid in backends else "web", times.user + times.system)
        except psutil.NoSuchProcess:
            pass
    return out


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    used = {"web": 0.0, "pg": 0.0}
    for pid, (kind, seconds) in after.items():
        used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return used


def setup_catalogue(base: str, engine: sa.Engine, args) -> tuple[str, list[tuple[str, list[str]]]]:
    """The commune's calendar, a service, the prestations, through booking's agent API at `base`;
    returns the service id and, per prestation, its id and open dates."""
    return make_catalogue(agent_caller(base), engine, args)


def agent_caller(base: str):
    """`call(method, path, **kw)` on booking's agent API at `base`: the JSON answer (2xx asserted)."""
    http = requests.Session()
    http.headers.update(AGENT_HEADERS())

    def call(method, path, **kw):
        r = http.request(method, base + path, timeout=60, **kw)
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json()

    return call


AGENT_HEADERS = lambda: {"Authorization": f"Bearer {agent_token(COMMUNE, AGENT)}"}  # noqa: E731


def make_catalogue(call, engine: sa.Engine, args) -> tuple[str, list[tuple[str, list[str]]]]:
    """`setup_catalogue` through `call(method, path, json=... | params=...)`, a client that sends
    AGENT_HEADERS and returns the JSON answer."""
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO agents (user_id, commune, role, active, changed_at, updated_at) "
                             "VALUES (:u, :c, 'agent', true, :n, :n)"), {"u": AGENT, "c": COMMUNE, "n": now})
    call("PUT", "/internal/agent/calendar", json={"zone": "B", "school_weekdays": [0, 1, 3, 4]})
    service_id = call("POST", "/internal/agent/services", json={"code": "cantine", "label": "Restauration scolaire"})["id"]
    demand = args.parents / args.prestations * args.lines / args.pool
    made = [make_prestation(call, service_id, f"repas-{i}", max(1, int(demand * args.capacity_ratio)), args.pool)
            for i in range(args.prestations)]
    return service_id, made


def make_prestation(call, service_id: str, code: str, capacity: int, pool: int) -> tuple[str, list[str]]:
    """A canteen prestation (Monday to Friday from today, booking until the day before at 12:00,
    invoiced at the end of the month: lines are confirmed at once); returns its id and its first
    `pool` open dates."""
    today = dt.date.today()
    body = {"service_id": service_id, "code": code, "label": f"Repas {code}",
            "schedule": {"first": today.isoformat(), "last": (today + dt.timedelta(days=150)).isoformat(),
                         "weekdays": [0, 1, 2, 3, 4]},
            "booking_deadline": {"kind": "calendar_days", "days": 1, "at": "12:00"},
            "cancellation_deadline": {"kind": "calendar_days", "days": 1, "at": "12:00"},
            "payment_mode": "end_of_month", "price_ref": "REPAS",
            "capacity": capacity, "starts_at": "11:45", "ends_at": "13:30"}
    prestation_id = call("POST", "/internal/agent/prestations", json=body)["id"]
    first = today + dt.timedelta(days=2)
    items = call("GET", f"/internal/agent/prestations/{prestation_id}/sessions",
                 params={"first": first.isoformat(), "last": (first + dt.timedelta(days=92)).isoformat()})["items"]
    days = [i["session_date"] for i in items if i["open"]][:pool]
    assert len(days) == pool, f"only {len(days)} open dates"
    return prestation_id, days


def setup_parents(engine: sa.Engine, service_id: str, count: int, prefix: str = "rush-parent"
                  ) -> list[tuple[str, str, str]]:
    """`count` families of the commune, one child each, enrolled; returns (sub, family, child)."""
    now, today = dt.datetime.now(dt.timezone.utc), dt.date.today()
    parents = [(f"{prefix}-{i}", str(uuid.uuid4()), str(uuid.uuid4())) for i in range(count)]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO families (family_id, commune, family_name, status, updated_at) "
                             "VALUES (:f, :c, 'Rush', 'active', :n)"),
                     [{"f": f, "c": COMMUNE, "n": now} for _, f, _ in parents])
        conn.execute(sa.text("INSERT INTO children (child_id, family_id, given_name, family_name, changed_at) "
                             "VALUES (:ch, :f, 'Enfant', 'Rush', :n)"),
                     [{"ch": ch, "f": f, "n": now} for _, f, ch in parents])
        conn.execute(sa.text("INSERT INTO guardians (guardian_id, family_id, user_id, city, changed_at) "
                             "VALUES (:g, :f, :u, :c, :n)"),
                     [{"g": str(uuid.uuid4()), "f": f, "u": sub, "c": COMMUNE, "n": now} for sub, f, _ in parents])
        conn.execute(sa.text(
            "INSERT INTO enrolments (id, commune, family_id, child_id, service_id, first, last, fixed_weekdays, "
            "created_by, created_at, updated_at) VALUES (:id, :c, :f, :ch, :s, :first, :last, '[]', 'bench', :n, :n)"),
            [{"id": str(uuid.uuid4()), "c": COMMUNE, "f": f, "ch": ch, "s": service_id, "first": today,
              "last": today + dt.timedelta(days=150), "n": now} for _, f, ch in parents])
    return parents


async def parent_flow(http, base: str, token: str, lines: list[dict], stats: dict) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    t0 = time.perf_counter()
    async with http.post(f"{base}/internal/parent/cart/lines", json={"lines": lines}, headers=headers) as r:
        await r.read()
        stats["add_status"][r.status] += 1
        if r.status != 200:
            return
    stats["add_latency"].append(time.perf_counter() - t0)
    key = uuid.uuid4().hex
    for attempt in range(5):
        t0 = time.perf_counter()
        try:
            async with http.post(f"{base}/internal/parent/cart/validate", headers={**headers, "Idempotency-Key": key}
                                 ) as r:
                body = await r.json(content_type=None)
                status = r.status
        except aiohttp.ClientError:
            stats["validate_status"]["client-error"] += 1
            continue
        stats["validate_latency"].append(time.perf_counter() - t0)
        stats["validate_status"][status] += 1
        if status == 409:
            stats["retries"] += 1
            continue
        if status == 200:
            stats["outcomes"].update(line["outcome"] for line in body["lines"])
        return


# --- through the gateway's pages ---------------------------------------------------------------------------
def gateway_session(sub: str, family_id: str) -> tuple[str, str]:
    """A signed-in gateway session for this parent, as after an identity sign-in: the `ef_session`
    cookie (signed with the gateway's key, as Flask does) and the CSRF token its forms carry."""
    import secrets

    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface
    from itsdangerous import URLSafeTimedSerializer

    app = Flask("bench")
    app.secret_key = GATEWAY_SECRET
    raw_csrf = secrets.token_hex(20)
    now = time.time()
    user = {"sub": sub, "email": f"{sub}@example.org", "name": "Parent Rush", "family_id": family_id,
            "communes": [{"slug": COMMUNE, "name": "Rush"}], "agent_of": [], "platform_role": None}
    data = {"user": user, "auth_at": now, "seen_at": now, "gsid": secrets.token_urlsafe(16), "_permanent": True,
            "csrf_token": raw_csrf}
    cookie = SecureCookieSessionInterface().get_signing_serializer(app).dumps(data)
    return cookie, URLSafeTimedSerializer(GATEWAY_SECRET, salt="wtf-csrf-token").dumps(raw_csrf)


async def gateway_parent_flow(http, base: str, session: tuple[str, str], service_id: str, lines: list[dict],
                              stats: dict) -> None:
    cookie, csrf = session
    headers = {"Cookie": f"ef_session={cookie}"}
    form = [("csrf_token", csrf), ("mois", lines[0]["session_date"][:7])]
    form += [("ligne", f"{line['child_id']}|{line['prestation_id']}|{line['session_date']}|book") for line in lines]
    t0 = time.perf_counter()
    async with http.post(f"{base}/reservations/services/{service_id}/panier", data=form, headers=headers,
                         allow_redirects=False) as r:
        await r.read()
        stats["add_status"][r.status] += 1
        if r.status != 302:
            return
    stats["add_latency"].append(time.perf_counter() - t0)
    key = uuid.uuid4().hex  # the form's idempotency_key (rendered with the cart page)
    for attempt in range(5):
        t0 = time.perf_counter()
        async with http.post(f"{base}/reservations/panier/valider", headers=headers,
                             data={"csrf_token": csrf, "idempotency_key": key}, allow_redirects=False) as r:
            await r.read()
            status = r.status
        stats["validate_latency"].append(time.perf_counter() - t0)
        stats["validate_status"][status] += 1
        if status != 409:
            return
        stats["retries"] += 1


async def rush(base: str, plans: list[tuple], concurrency: int, via: str = "booking", service_id: str = "") -> dict:
    import aiohttp

    stats = {"add_status": Counter(), "validate_status": Counter(), "outcomes": Counter(), "retries": 0,
             "add_latency": [], "validate_latency": []}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as http:
        started = time.perf_counter()
        slots = asyncio.Semaphore(concurrency)  # `concurrency` parents at a time, each on its own connection:

        async def parent(credentials, lines):  # the latencies are the server's, not a wait for a free connection
            async with slots:
                if via == "gateway":
                    await gateway_parent_flow(http, base, credentials, service_id, lines, stats)
                else:
                    await parent_flow(http, base, credentials, lines, stats)

        await asyncio.gather(*(parent(credentials, lines) for credentials, lines in plans))
        stats["seconds"] = time.perf_counter() - started
    return stats


# One sample of every client backend of the bench's database: what it waits for, and whether it
# holds a lock another backend waits for without waiting for a lock itself (the head of a queue).
_WAITS = """
WITH a AS (
    SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
), blockers AS (SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid FROM a WHERE wait_event_type = 'Lock')
SELECT a.state, a.wait_event_type, a.wait_event, a.pid IN (SELECT pid FROM blockers) FROM a
"""


class Waits:
    """`--waits`: during the rush, the machine's CPU busy (all processes, /proc/stat) and every
    10 ms the PostgreSQL backends' wait events; the lock holders at the head of a queue are
    counted apart (what they are doing while carts queue behind them)."""

    def __init__(self, url: str, every: float = 0.01):
        import threading

        self.url, self.every, self.samples = sa.make_url(url), every, 0
        self.backends: Counter = Counter()
        self.heads: Counter = Counter()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields) - fields[3] - fields[4], sum(fields)  # busy (not idle, not iowait), all

    def __enter__(self):
        self.cpu = self._cpu()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        busy, total = self._cpu()
        self.busy = (busy - self.cpu[0]) / max(1, total - self.cpu[1])
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                             password=self.url.password, dbname=self.url.database, autocommit=True) as conn:
            while not self.done.wait(self.every):
                self.samples += 1
                for state, kind, event, blocking in conn.execute(_WAITS, prepare=True):
                    what = f"{state} {kind or 'CPU'}:{event or '-'}"
                    self.backends[what] += 1
                    if blocking and kind != "Lock":
                        self.heads[what] += 1

    def report(self) -> str:
        def share(counter):
            total = sum(counter.values()) or 1
            return ", ".join(f"{what} {n / total:.0%}" for what, n in counter.most_common(8))
        return (f"CPU busy (all processes) {self.busy:.0%}; {self.samples} samples, backends per sample "
                f"{sum(self.backends.values()) / max(1, self.samples):.1f}: {share(self.backends)}; lock holders "
                f"at a queue's head in {sum(self.heads.values()) / max(1, self.samples):.0%} of samples: "
                f"{share(self.heads)}")


def rollbacks(engine: sa.Engine) -> int:
    """Transactions of the bench's database rolled back so far: in a rush, the optimistic
    validations that lost their places (booking.carts.Contended) and were validated again."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()")
                            ).scalar_one()


def check_capacity(engine: sa.Engine) -> dict:
    with engine.connect() as conn:
        over = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT b.prestation_id, b.session_date, count(*) AS n, "
            "coalesce(max(s.capacity), max(p.capacity)) AS cap FROM bookings b "
            "JOIN prestations p ON p.id = b.prestation_id JOIN sessions s ON s.prestation_id = b.prestation_id "
            "AND s.session_date = b.session_date WHERE b.status IN ('confirmed', 'held', 'pending_agent', "
            "'cancellation_requested') GROUP BY 1, 2) x WHERE n > cap")).scalar_one()
        mismatched = conn.execute(sa.text(
            "SELECT count(*) FROM sessions s LEFT JOIN (SELECT prestation_id, session_date, count(*) AS n FROM bookings "
            "WHERE status IN ('confirmed', 'held', 'pending_agent', 'cancellation_requested') GROUP BY 1, 2) x "
            "USING (prestation_id, session_date) WHERE s.confirmed + s.held <> coalesce(x.n, 0)")).scalar_one()
        confirmed = conn.execute(sa.text("SELECT count(*) FROM bookings WHERE status = 'confirmed'")).scalar_one()
        full = conn.execute(sa.text(
            "SELECT count(*) FROM sessions s JOIN prestations p ON p.id = s.prestation_id "
            "WHERE s.confirmed + s.held >= coalesce(s.capacity, p.capacity)")).scalar_one()
        events = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    return {"overbooked": over, "counter_mismatch": mismatched, "confirmed": confirmed, "full_dates": full,
            "outbox": events}


def start_gateway(var: Path, booking_port: int) -> tuple[subprocess.Popen, int]:
    """`python -m gateway migrate` then `web` (2 workers, SQLite in `var`), calling this booking."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "PROMETHEUS_MULTIPROC_DIR"}
    port = free_port()
    env.update(EF_ENV="development", EF_VAR_DIR=str(var / "gateway"), LOG_FORMAT="text", LOG_LEVEL="WARNING",
               WEB_CONCURRENCY="2", SERVICE_TOKEN_SECRET=SECRET, GATEWAY_SECRET_KEY=GATEWAY_SECRET,
               BOOKING_URL=f"http://127.0.0.1:{booking_port}", IDENTITY_URL=f"http://127.0.0.1:{free_port()}",
               BIND=f"127.0.0.1:{port}")
    (var / "gateway").mkdir()
    subprocess.run([PY, "-m", "gateway", "migrate"], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([PY, "-m", "gateway", "web"], env=env, cwd=var, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_ok(f"http://127.0.0.1:{port}/health/live", proc)
    return proc, port


def measure(args, via: str = "booking") -> dict:
    var = Path(tempfile.mkdtemp(prefix="bench-booking-rush-"))
    url, drop = create_database("bench_booking_rush")
    env = booking_env(url, var)
    procs: list[subprocess.Popen] = []
    engine = engine_for(url)
    try:
        booking_command(env, var, "migrate")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, v integer NOT NULL)"))
        port = free_port()
        procs.append(start_booking(env, var, port))
        base = f"http://127.0.0.1:{port}"
        service_id, prestations = setup_catalogue(base, engine, args)
        if via == "gateway":
            gateway, gateway_port = start_gateway(var, port)
            procs.append(gateway)
            base = f"http://127.0.0.1:{gateway_port}"

        def plan(parents, prestations, rng):
            plans = []
            for i, (sub, family_id, child_id) in enumerate(parents):
                prestation_id, days = prestations[i % len(prestations)]
                lines = [{"child_id": child_id, "prestation_id": prestation_id, "session_date": d}
                         for d in sorted(rng.sample(days, args.lines))]
                credentials = gateway_session(sub, family_id) if via == "gateway" else parent_token(family_id, sub)
                plans.append((credentials, lines))
            return plans

        warm_confirmed = 0
        if args.warmup:  # servers as they are in production: warm (templates compiled, statements prepared)
            warm = make_prestation(agent_caller(f"http://127.0.0.1:{port}"), service_id, "warm-up", args.warmup,
                                   args.lines)
            warm_parents = setup_parents(engine, service_id, args.warmup, "warm-parent")
            asyncio.run(rush(base, plan(warm_parents, [warm], random.Random(9)), args.concurrency, via, service_id))
            warm_confirmed = check_capacity(engine)["confirmed"]
        plans = plan(setup_parents(engine, service_id, args.parents), prestations, random.Random(8))
        raw_before = pgbench(url, var, args.pgbench_seconds)
        spy = profile(procs[0].pid, args.profile) if args.profile else None
        cpu_before = {proc.pid: cpu_seconds(proc.pid, engine) for proc in procs}
        rolled_back = rollbacks(engine)
        client_cpu = time.process_time()
        with (Waits(url) if args.waits else contextlib.nullcontext()) as waits:
            stats = asyncio.run(rush(base, plans, args.concurrency, via, service_id))
        stats["waits"] = waits.report() if waits else None
        stats["cpu_client"] = time.process_time() - client_cpu
        stats["cpu"] = cpu_used(cpu_before[procs[0].pid], cpu_seconds(procs[0].pid, engine))
        if via == "gateway":
            stats["cpu"]["gateway"] = cpu_used(cpu_before[procs[1].pid], cpu_seconds(procs[1].pid, engine))["web"]
        if spy:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        raw_after = pgbench(url, var, args.pgbench_seconds)
        stats["rolled_back"] = rollbacks(engine) - rolled_back  # read once pgbench is done: the statistics are flushed
        checks = check_capacity(engine)
        checks["confirmed"] -= warm_confirmed  # the rush's own (the warm-up's prestation is not the rush's)
        return {"stats": stats, "checks": checks, "raw": (raw_before, raw_after), "load": load_average(), "via": via}
    finally:
        stop(procs)
        engine.dispose()
        drop()


def ms(values: list[float], q: float) -> str:
    if not values:
        return "–"
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f} ms"


def figures(result: dict, args) -> dict:
    s, c = result["stats"], result["checks"]
    gateway = result["via"] == "gateway"
    # Through the gateway the answers are pages: the confirmed bookings are counted in the database
    # (the same figure as the outcomes of the JSON answers when direct; the bench's own database).
    confirmed = c["confirmed"] if gateway else s["outcomes"].get("confirmed", 0)
    answered = s["validate_status"].get(200, 0) + (s["validate_status"].get(422, 0) if gateway else 0)
    cpu = s["cpu"]
    cpu_total = cpu["web"] + cpu["pg"] + cpu.get("gateway", 0.0)
    return {"per_s": confirmed / s["seconds"], "validations_per_s": answered / s["seconds"], "confirmed": confirmed,
            "p50": ms(s["validate_latency"], 0.5), "p99": ms(s["validate_latency"], 0.99),
            "add_p50": ms(s["add_latency"], 0.5), "add_p99": ms(s["add_latency"], 0.99),
            "cpu_web": cpu["web"] * 1000 / args.parents, "cpu_pg": cpu["pg"] * 1000 / args.parents,
            "cpu_gateway": cpu.get("gateway", 0.0) * 1000 / args.parents,
            "cpu_client": s["cpu_client"] * 1000 / args.parents,
            "estimate": confirmed / cpu_total * os.cpu_count() if cpu_total else 0.0,
            "raw": statistics.mean(result["raw"])}


WHERE = {"booking": "booking's API (`/internal/parent/cart/lines`, `/internal/parent/cart/validate`)",
         "gateway": "the gateway's pages (`POST /reservations/services/<service>/panier`, "
                    "`POST /reservations/panier/valider`; session cookie + CSRF)"}


def report(result: dict, args) -> str:
    s, c, f = result["stats"], result["checks"], figures(result, args)
    gateway = result["via"] == "gateway"
    goal = "met" if f["per_s"] >= 1000 else "NOT met"
    statuses = "302 + result page 200 (422: every line refused)" if gateway else "200"
    cpu_label = " / gateway web" if gateway else ""
    cpu_value = (f"{f['cpu_web']:.0f} ms / {f['cpu_pg']:.0f} ms" + (f" / {f['cpu_gateway']:.0f} ms" if gateway else "")
                 + f" / {f['cpu_client']:.1f} ms")
    lines = [
        f"#### {'Through the gateway' if gateway else 'Direct to booking'}",
        "",
        f"Measured at {WHERE[result['via']]}; load average at the end: {result['load']}.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| rush duration (first cart line to last answer) | {s['seconds']:.2f} s |",
        f"| **confirmed bookings/s** (goal ≥ 1,000: {goal}) | **{f['per_s']:.0f}** |",
        f"| validations/s (carts of {args.lines}) | {f['validations_per_s']:.1f} |",
        f"| validation p50 / p99 | {f['p50']} / {f['p99']} |",
        f"| add lines p50 / p99 | {f['add_p50']} / {f['add_p99']} |",
        f"| CPU per cart (lines + validation): booking web / PostgreSQL backends{cpu_label} / this bench's client "
        f"| {cpu_value} |",
        f"| → confirmed bookings/s if this machine's {os.cpu_count()} CPUs were ours alone "
        f"(CPU-bound estimate) | {f['estimate']:.0f} |",
        f"| line outcomes (JSON answers; pages: see the database) | {dict(s['outcomes']) or '–'} |",
        f"| HTTP statuses (lines / validate; expected {statuses}), 409 retries | {dict(s['add_status'])} / "
        f"{dict(s['validate_status'])}, {s['retries']} |",
        f"| optimistic validations rolled back (their places were taken meanwhile: decided again on a new peek, at the third the séances locked first) | "
        f"{s['rolled_back']} |",
        f"| **overbooked séances** (must be 0) | **{c['overbooked']}** |",
        f"| séances whose counters disagree with the bookings | {c['counter_mismatch']} |",
        f"| confirmed bookings in the database / full dates / outbox events | {c['confirmed']} / {c['full_dates']} / "
        f"{c['outbox']} |",
        f"| raw PostgreSQL one-row INSERT transactions/s (pgbench -c16, before / after) | "
        f"{result['raw'][0]:.0f} / {result['raw'][1]:.0f} |",
        *([f"| during the rush (`--waits`) | {s['waits']} |"] if s.get("waits") else []),
        "",
    ]
    return "\n".join(lines)


def summary(results: list[dict], args) -> str:
    rows = ["| | " + " | ".join("through the gateway" if r["via"] == "gateway" else "direct to booking"
                               for r in results) + " |",
            "|---|" + "---:|" * len(results)]
    figs = [figures(r, args) for r in results]

    def row(label, fmt):
        rows.append(f"| {label} | " + " | ".join(fmt(f, r) for f, r in zip(figs, results)) + " |")

    row("**confirmed bookings/s** (goal ≥ 1,000)", lambda f, r: f"**{f['per_s']:.0f}**")
    row("validation p50 / p99", lambda f, r: f"{f['p50']} / {f['p99']}")
    row("**overbooked séances**", lambda f, r: f"**{r['checks']['overbooked']}**")
    row("optimistic validations rolled back", lambda f, r: str(r["stats"]["rolled_back"]))
    row("raw PostgreSQL one-row tx/s (mean before/after)", lambda f, r: f"{f['raw']:.0f}")
    row("CPU per cart: booking / PostgreSQL / gateway / bench client",
        lambda f, r: f"{f['cpu_web']:.0f} / {f['cpu_pg']:.0f} / {f['cpu_gateway']:.0f} / {f['cpu_client']:.1f} ms")
    row("CPU-bound estimate (bookings/s, both CPUs ours)", lambda f, r: f"{f['estimate']:.0f}")
    row("load average at the end", lambda f, r: r["load"])
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parents", type=int, default=400)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--pool", type=int, default=25)
    parser.add_argument("--prestations", type=int, default=1)
    parser.add_argument("--capacity-ratio", type=float, default=0.7)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=64,
                        help="parents of a first, unmeasured rush on a prestation of its own (0: none)")
    parser.add_argument("--pgbench-seconds", type=int, default=5)
    parser.add_argument("--via", choices=("booking", "gateway", "both"), default="both")
    parser.add_argument("--waits", action="store_true",
                        help="CPU busy (/proc/stat) and PostgreSQL wait events sampled every 10 ms during the rush")
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the web workers during the rush")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = [measure(args, via) for via in (("booking", "gateway") if args.via == "both" else (args.via,))]
    text = "\n".join([
        f"### Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `.venv/bin/python bench/booking_rush.py --parents {args.parents} --lines {args.lines} "
        f"--pool {args.pool} --prestations {args.prestations} --capacity-ratio {args.capacity_ratio} "
        f"--concurrency {args.concurrency} --warmup {args.warmup} --via {args.via}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. Setup: "
        f"{args.parents} parents, carts of {args.lines} dates among {args.pool} open dates of {args.prestations} "
        f"prestation(s), {args.concurrency} parents at a time, booking web (and gateway web) with 2 workers each, "
        "a fresh database per rush.",
        "",
        summary(results, args),
        "",
        *(report(r, args) for r in results),
    ])
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
