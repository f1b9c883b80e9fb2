"""Throughput of identity's token endpoint: authorization-code exchange and refresh (issue 3).

    .venv/bin/python bench/identity_token.py [--duration 10] [--concurrency 8] [--workers 2]
                                             [--database-url postgresql://postgres@127.0.0.1:5432/x] [--out FILE]

Starts identity as `make run` does (`python -m identity migrate`, then `web`: gunicorn +
uvicorn workers) on a free loopback port, SQLite in a temporary directory unless
--database-url is given. Codes are written straight into the database beforehand (as the
authorize endpoint would, 60 s validity, PKCE S256), so that only the token endpoint is
measured. Each phase is bounded by --duration; every request is checked (HTTP 200 and a
token in the body). Each code exchange signs two RS256 JWTs (access token, id_token) and
writes the code and the token row; each refresh checks and rotates the refresh token and
signs two JWTs.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

PY = sys.executable
CLIENT = ("bench-client", "bench-client-secret")
REDIRECT = "http://127.0.0.1:8765/callback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(db_url: str, n_codes: int) -> tuple[list[tuple[str, str]], str]:
    """Create a user and a client, then `n_codes` codes; returns [(code, verifier)], user id."""
    from servicekit.db import Database

    from identity.oidc import keys, secrets
    from identity.oidc.clients import ensure_client
    from identity.oidc.models import AuthorizationCode
    from identity.oidc.testing import make_user

    db = Database(db_url)
    user = make_user(db)
    with db.transaction() as s:
        ensure_client(s, CLIENT[0], CLIENT[1], "Bench", [REDIRECT], True)
        keys.ensure_keys(s)
    pairs = []
    now = datetime.now(timezone.utc)
    with db.transaction() as s:
        for _ in range(n_codes):
            code, verifier = secrets.new_secret(), secrets.new_secret(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            s.add(AuthorizationCode(code_hash=secrets.digest(code), client_id=CLIENT[0], user_id=user.id,
                                    sid="bench-session", redirect_uri=REDIRECT, scope="openid profile email",
                                    code_challenge=challenge, code_challenge_method="S256", auth_time=now,
                                    amr=["pwd"], created_at=now, expires_at=now + timedelta(seconds=60)))
            pairs.append((code, verifier))
    db.dispose()
    return pairs, user.id


def run_phase(name, duration, concurrency, make_call):
    """Run `make_call(worker_index)` generators in `concurrency` threads for `duration` seconds."""
    stop = time.monotonic() + duration
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(i):
        session = requests.Session()
        call = make_call(i, session)
        local, bad = [], 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            ok = call()
            if ok is None:  # out of work
                break
            local.append(time.perf_counter() - started)
            bad += 0 if ok else 1
        with lock:
            latencies.extend(local)
            errors[0] += bad

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    pct = (lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000) if latencies else (lambda p: 0)
    return {"name": name, "requests": len(latencies), "errors": errors[0], "seconds": elapsed,
            "rps": len(latencies) / elapsed if elapsed else 0, "p50": pct(0.50), "p99": pct(0.99),
            "mean": statistics.fmean(latencies) * 1000 if latencies else 0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.duration > 50:
        sys.exit("--duration must stay under the 60 s code lifetime")

    tmp = Path(tempfile.mkdtemp(prefix="bench-identity-token-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'identity.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IDENTITY_DATABASE_URL": db_url, "EF_ENV": "development", "EF_VAR_DIR": str(tmp),
           "OIDC_ISSUER": base + "/oidc", "PUBLIC_URL": base, "BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": str(args.workers), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text"}
    subprocess.run([PY, "-m", "identity", "migrate"], env=env, cwd=tmp, check=True, capture_output=True)
    proc = subprocess.Popen([PY, "-m", "identity", "web"], env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/health/live", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("identity did not start")
            time.sleep(0.2)
        os.environ.update({k: env[k] for k in ("IDENTITY_DATABASE_URL", "EF_ENV", "EF_VAR_DIR", "OIDC_ISSUER", "PUBLIC_URL")})
        budget = int(args.duration * 1500) + 200  # more codes than the endpoint can take in time
        pairs, _ = seed(db_url, budget)
        token_url = base + "/oidc/token"
        # Warm-up: first requests load keys and open connections.
        for code, verifier in pairs[:20]:
            requests.post(token_url, auth=CLIENT, data={"grant_type": "authorization_code", "code": code,
                                                        "redirect_uri": REDIRECT, "code_verifier": verifier})
        queue = iter(pairs[20:])
        queue_lock = threading.Lock()
        refresh_seeds: list[str] = []

        def code_call(_i, session):
            def call():
                with queue_lock:
                    item = next(queue, None)
                if item is None:
                    return None
                r = session.post(token_url, auth=CLIENT, data={"grant_type": "authorization_code", "code": item[0],
                                                               "redirect_uri": REDIRECT, "code_verifier": item[1]})
                ok = r.status_code == 200 and "id_token" in r.json()
                if ok and len(refresh_seeds) < args.concurrency:
                    refresh_seeds.append(r.json()["refresh_token"])
                return ok
            return call

        exchange = run_phase("code exchange", args.duration, args.concurrency, code_call)

        def refresh_call(i, session):
            state = {"rt": refresh_seeds[i]}

            def call():
                r = session.post(token_url, auth=CLIENT, data={"grant_type": "refresh_token", "refresh_token": state["rt"]})
                if r.status_code != 200:
                    return False
                state["rt"] = r.json()["refresh_token"]
                return True
            return call

        refresh = run_phase("refresh (rotation)", args.duration, args.concurrency, refresh_call)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    backend = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite (make run default)"
    lines = [
        "# identity token endpoint benchmark",
        "",
        f"Command: `.venv/bin/python bench/identity_token.py --duration {args.duration:g} --concurrency {args.concurrency}"
        f" --workers {args.workers}{' --database-url …' if args.database_url else ''}`",
        f"Machine: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; database: {backend};"
        f" identity under gunicorn + uvicorn workers (WEB_CONCURRENCY={args.workers}), loopback HTTP, "
        f"{args.concurrency} client threads with keep-alive.",
        "",
        "| phase | requests | errors | seconds | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (exchange, refresh):
        lines.append(f"| {r['name']} | {r['requests']} | {r['errors']} | {r['seconds']:.1f} | {r['rps']:.0f} |"
                     f" {r['p50']:.1f} | {r['p99']:.1f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
