"""Login latency through identity's real web process, beside raw Argon2id verification (issue 3).

    .venv/bin/python bench/identity_login.py [--logins 200] [--concurrency 1] [--workers 2]
                                             [--database-url postgresql://...] [--out FILE]

Starts identity as `make run` does (`python -m identity migrate`, then `web`: gunicorn +
uvicorn workers) on a free loopback port, SQLite in a temporary directory unless
--database-url is given, and seeds one active parent account. Each login is a fresh browser:
GET /oidc/login (to obtain the CSRF token and cookie, not timed), then the timed
POST /oidc/login with e-mail and password, which must answer 302 with the `ef_sso` cookie.
Each POST verifies the password with Argon2id, reads and writes throttling state, creates
the SSO session and writes the audit journal. X-Forwarded-For differs per login, as if each
came from another client through the gateway. Raw `PasswordHasher.verify` is then timed
in-process with the same parameters.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests

PY = sys.executable
PASSWORD = "une loutre range ses chaussettes"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def seed(db_url: str) -> str:
    from servicekit.db import Database

    from identity import passwords
    from identity.models import User

    db = Database(db_url)
    email = f"bench-{os.getpid()}@example.org"
    with db.transaction() as s:
        s.add(User(email=email, password_hash=passwords.hash_password(PASSWORD), is_active=True))
    db.dispose()
    return email


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"identity exited with {proc.returncode}")
        try:
            if requests.get(f"{base}/health/live", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("identity did not start")


def one_login(base: str, email: str, i: int) -> float:
    browser = requests.Session()
    headers = {"X-Forwarded-For": f"10.{i // 65536 % 250}.{i // 256 % 256}.{i % 256}"}
    page = browser.get(f"{base}/oidc/login", headers=headers, timeout=10)
    token = CSRF_RE.search(page.text).group(1)
    started = time.perf_counter()
    r = browser.post(f"{base}/oidc/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                     headers=headers, allow_redirects=False, timeout=10)
    elapsed = time.perf_counter() - started
    if r.status_code != 302 or "ef_sso" not in r.cookies:
        raise SystemExit(f"login {i} failed: HTTP {r.status_code} {r.text[:200]}")
    return elapsed


def raw_verify(n: int) -> list[float]:
    from identity import passwords

    hashed = passwords.hash_password(PASSWORD)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        assert passwords.verify_password(hashed, PASSWORD)
        times.append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--raw", type=int, default=100, help="raw Argon2 verifications")
    parser.add_argument("--database-url")
    parser.add_argument("--out")
    args = parser.parse_args()

    from identity import passwords

    tmp = tempfile.mkdtemp(prefix="bench-login-")
    db_url = args.database_url or f"sqlite:///{tmp}/identity.db"
    port = free_port()
    env = {**os.environ, "IDENTITY_DATABASE_URL": db_url, "EF_ENV": "development", "EF_VAR_DIR": tmp,
           "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.workers), "LOG_LEVEL": "WARNING"}
    subprocess.run([PY, "-m", "identity", "migrate"], env=env, check=True, capture_output=True)
    email = seed(db_url)
    proc = subprocess.Popen([PY, "-m", "identity", "web"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        for i in range(5):  # warm-up: imports, connection pools, templates
            one_login(base, email, 60000 + i)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            latencies = list(pool.map(lambda i: one_login(base, email, i), range(args.logins)))
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    raw = raw_verify(args.raw)

    backend = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    params = f"Argon2id t={passwords.ARGON2_TIME_COST}, m={passwords.ARGON2_MEMORY_KIB // 1024} MiB, " \
             f"p={passwords.ARGON2_PARALLELISM}"
    lines = [
        "# Identity login latency and Argon2id cost",
        "",
        f"Command: `.venv/bin/python bench/identity_login.py --logins {args.logins} --concurrency "
        f"{args.concurrency} --workers {args.workers}{' --database-url …' if args.database_url else ''}`",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"Setup: identity under gunicorn with {args.workers} uvicorn workers, {backend}, EF_ENV=development, "
        "everything on loopback; one run.",
        f"Hash parameters: {params} (`identity/passwords.py`).",
        "",
        "| measure | n | p50 | p99 | mean | max |",
        "|---|---:|---:|---:|---:|---:|",
        f"| POST /oidc/login (full sign-in, concurrency {args.concurrency}) | {len(latencies)} | "
        f"{ms(percentile(latencies, 50))} | {ms(percentile(latencies, 99))} | {ms(statistics.mean(latencies))} | "
        f"{ms(max(latencies))} |",
        f"| raw Argon2id verify (in-process) | {len(raw)} | {ms(percentile(raw, 50))} | {ms(percentile(raw, 99))} | "
        f"{ms(statistics.mean(raw))} | {ms(max(raw))} |",
        "",
        f"Sign-ins per second over the run: {len(latencies) / wall:.1f}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
