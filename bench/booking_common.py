"""Helpers shared by the booking benchmarks (booking_calendar.py, booking_rush.py): a fresh
PostgreSQL database migrated and seeded by booking's own commands, `python -m booking web`
started as in production (gunicorn + 2 uvicorn workers), long-lived service tokens, wrk with a
header, and the machine's load.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_read import free_port  # noqa: E402,F401  (re-exported for the booking benches)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-booking-service-token-secret-0123456789"
DEMO_FAMILY = "00000000-0000-4000-8000-00000000f001"  # identity's and booking's demo seed
LEA = "00000000-0000-4000-8000-00000000c001"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def create_database(prefix: str) -> tuple[str, callable]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}", lambda: pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def booking_env(url: str, var: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING",
               WEB_CONCURRENCY="2", BOOKING_DATABASE_URL=url, SERVICE_TOKEN_SECRET=SECRET)
    return env


def booking_command(env: dict, var: Path, *args: str) -> None:
    subprocess.run([PY, "-m", "booking", *args], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)


def start_booking(env: dict, var: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([PY, "-m", "booking", "web"], env={**env, "BIND": f"127.0.0.1:{port}"}, cwd=var,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ok(f"http://127.0.0.1:{port}/health/live", proc)
    return proc


def wait_ok(url: str, proc: subprocess.Popen, headers: dict | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"process for {url} exited ({proc.returncode})")
        try:
            if requests.get(url, headers=headers, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    sys.exit(f"{url} not ready in time")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def parent_token(family_id: str, sub: str = "bench-parent", ttl: int = 6 * 3600) -> str:
    from servicekit import tokens

    return tokens.mint(tokens.Caller(sub=sub, role="parent", family_id=family_id), "booking", SECRET, ttl=ttl)


def agent_token(commune: str, sub: str, ttl: int = 6 * 3600) -> str:
    from servicekit import tokens

    return tokens.mint(tokens.Caller(sub=sub, role="agent", commune=commune), "booking", SECRET, ttl=ttl)


def wrk(url: str, duration: int, connections: int, threads: int, headers: dict | None = None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1) for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else "none", "raw": out}


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"
