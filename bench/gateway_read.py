"""A light read through the gateway beside the same read direct on the service (issue 2).

    .venv/bin/python bench/gateway_read.py [--duration 15] [--connections 16] [--threads 2]

Starts identity and the gateway as `python -m <pkg> migrate` then `web` start them (gunicorn +
uvicorn workers, WEB_CONCURRENCY=2 each, SQLite in a temporary directory), warms both up, then
measures with wrk, in the same run and with the same concurrency:
  - direct:  GET identity /internal/communes
  - gateway: GET gateway  /api/communes  (connexion validation, service token minted, pooled
             keep-alive call to identity, response re-serialised)
Goal: gateway >= 0.40 of direct. Prints a Markdown report (also written with --out).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ok(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"process for {url} exited")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    sys.exit(f"{url} not ready in time")


def start(pkg: str, env: dict, port: int, var: Path) -> subprocess.Popen:
    env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING"}
    subprocess.run([PY, "-m", pkg, "migrate"], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)
    return subprocess.Popen([PY, "-m", pkg, "web"], env=env, cwd=var, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wrk(url: str, duration: int, connections: int, threads: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    count = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {p: re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1) for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "requests": count, "p50": lat["50"], "p99": lat["99"], "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else "none", "raw": out}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    id_port, gw_port = free_port(), free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    base_env.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text",
                    PROMETHEUS_MULTIPROC_DIR="")
    base_env.pop("PROMETHEUS_MULTIPROC_DIR")
    identity = start("identity", base_env, id_port, var)
    gateway = start("gateway", {**base_env, "IDENTITY_URL": f"http://127.0.0.1:{id_port}",
                                   "GATEWAY_COMMUNES_KEPT_SECONDS": "0"}, gw_port, var)
    direct_url = f"http://127.0.0.1:{id_port}/internal/communes"
    gateway_url = f"http://127.0.0.1:{gw_port}/api/communes"
    try:
        wait_ok(direct_url, identity)
        wait_ok(gateway_url, gateway)
        sample_direct = requests.get(direct_url, timeout=5).content
        sample_gateway = requests.get(gateway_url, timeout=5).json()
        for url in (direct_url, gateway_url):  # warm-up: every worker, every pool
            wrk(url, 3, args.connections, args.threads)
        direct = wrk(direct_url, args.duration, args.connections, args.threads)
        through = wrk(gateway_url, args.duration, args.connections, args.threads)
    finally:
        for proc in (gateway, identity):
            proc.terminate()
        for proc in (gateway, identity):
            proc.wait(20)
    ratio = through["rps"] / direct["rps"]
    load = os.getloadavg()
    report = f"""# Light read through the gateway vs direct on identity

Command: `.venv/bin/python bench/gateway_read.py --duration {args.duration} --connections {args.connections} --threads {args.threads}`
Date: {time.strftime('%Y-%m-%d %H:%M')} · machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}
Setup: identity and gateway each under gunicorn with 2 uvicorn workers (WEB_CONCURRENCY=2), SQLite,
EF_ENV=development, log level WARNING; wrk on the same machine; 3 s warm-up of each URL; one run each.
Load average at the end of the run: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (the machine is shared:
other processes compete for the same CPUs, so absolute numbers vary between runs).
Response: {len(sample_direct)} bytes direct; gateway returns the same document ({len(sample_gateway.get('items', []))} communes).

| read | URL | requests/s | p50 | p99 | non-2xx | socket errors |
|---|---|---:|---:|---:|---:|---|
| direct | `GET /internal/communes` (identity) | {direct['rps']:.0f} | {direct['p50']} | {direct['p99']} | {direct['non2xx']} | {direct['socket_errors']} |
| through the gateway | `GET /api/communes` | {through['rps']:.0f} | {through['p50']} | {through['p99']} | {through['non2xx']} | {through['socket_errors']} |

**Gateway / direct = {ratio:.2f}** (goal ≥ 0.40: {'met' if ratio >= 0.40 else 'NOT met'}).

Through the gateway each request also costs identity the same work as the direct read, on the
same {os.cpu_count()} CPUs, so the ratio measures the gateway hop (connexion validation, service token
minted per call, pooled keep-alive HTTP call, JSON re-serialised) plus the CPU it takes from identity.
"""
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
