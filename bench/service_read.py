"""A service's trivial read beside bare Flask doing the same query, and the same read through
the gateway (issue 6), in one run, on SQLite and on PostgreSQL.

    .venv/bin/python bench/service_read.py [--db sqlite,postgres] [--rounds 3] [--duration 10]
                                           [--connections 16] [--threads 2] [--out FILE]

For each database it starts, side by side on the same data (three communes):
  - bare:     bench/baselines/bare_flask_read.py under gunicorn, 2 sync workers (the floor)
  - identity: `python -m identity web` (gunicorn, 2 uvicorn workers) GET /internal/communes
  - gateway:  `python -m gateway web` (2 workers) GET /api/communes, which calls identity at every
              request (GATEWAY_COMMUNES_KEPT_SECONDS=0: in production each process keeps the
              answer 5 s, which would measure a cache, not the path through the gateway)
then measures each with wrk, alternating bare / identity / gateway in every round so that the
machine's noise falls on all three alike. Goals: identity >= 0.5 of bare; gateway >= 0.5 of
identity direct. Prints a Markdown report (also written with --out).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_read import free_port, wait_ok, wrk  # noqa: E402  (same helpers as the older bench)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
COMMUNES = (("heillecourt", "Heillecourt"), ("ludres", "Ludres"), ("fleville", "Fléville-devant-Nancy"))


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def prepare_database(kind: str, var: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{var}/identity.db", lambda: None
    name = f"bench_read_{uuid.uuid4().hex[:8]}"
    _pg(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}", lambda: _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_platform(url: str, var: Path) -> tuple[dict, list[subprocess.Popen]]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING",
               WEB_CONCURRENCY="2", IDENTITY_DATABASE_URL=url)
    subprocess.run([PY, "-m", "identity", "migrate"], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)
    for slug, name in COMMUNES:
        subprocess.run([PY, "-m", "identity", "create-commune", "--slug", slug, "--name", name], env=env, cwd=var,
                       check=True, stdout=subprocess.DEVNULL)
    ports = {"bare": free_port(), "identity": free_port(), "gateway": free_port()}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": var}
    procs = [
        subprocess.Popen([PY, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{ports['bare']}", "--log-level", "warning",
                          "--chdir", str(ROOT), "bench.baselines.bare_flask_read:app"],
                         env={**env, "DATABASE_URL": url}, **quiet),
        subprocess.Popen([PY, "-m", "identity", "web"], env={**env, "BIND": f"127.0.0.1:{ports['identity']}"}, **quiet),
        subprocess.Popen([PY, "-m", "gateway", "web"], env={**env, "BIND": f"127.0.0.1:{ports['gateway']}",
                                                           "IDENTITY_URL": f"http://127.0.0.1:{ports['identity']}",
                                                           "GATEWAY_COMMUNES_KEPT_SECONDS": "0"},
                         **quiet),
    ]
    urls = {"bare": f"http://127.0.0.1:{ports['bare']}/internal/communes",
            "identity": f"http://127.0.0.1:{ports['identity']}/internal/communes",
            "gateway": f"http://127.0.0.1:{ports['gateway']}/api/communes"}
    for (name, url_), proc in zip(urls.items(), procs):
        wait_ok(url_, proc)
    return urls, procs


def worker_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the worker processes of a gunicorn master."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    ticks = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measured(url: str, args, procs: dict[str, subprocess.Popen]) -> dict:
    """wrk on `url`, with the CPU each server's workers spent per request meanwhile (µs)."""
    before = {name: worker_cpu(proc) for name, proc in procs.items()}
    result = wrk(url, args.duration, args.connections, args.threads)
    result["cpu_us"] = {name: (worker_cpu(proc) - before[name]) * 1e6 / max(result["requests"], 1)
                        for name, proc in procs.items()}
    return result


def measure(kind: str, args) -> dict:
    var = Path(tempfile.mkdtemp(prefix=f"bench-read-{kind}-"))
    url, drop = prepare_database(kind, var)
    procs: list[subprocess.Popen] = []
    try:
        urls, procs = start_platform(url, var)
        bodies = {name: requests.get(u, timeout=5).json() for name, u in urls.items()}
        assert bodies["bare"] == bodies["identity"] == bodies["gateway"], bodies
        for u in urls.values():  # warm-up: every worker, every pool
            wrk(u, 3, args.connections, args.threads)
        servers = {"identity": procs[1], "gateway": procs[2]}
        rounds = []
        for _ in range(args.rounds):
            rounds.append({name: measured(u, args, servers) for name, u in urls.items()})
        return {"rounds": rounds, "items": len(bodies["bare"]["items"])}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
        drop()


def report(results: dict, args) -> str:
    load = os.getloadavg()
    lines = [
        "# A service's trivial read beside bare Flask, and through the gateway (issue 6)",
        "",
        f"Command: `.venv/bin/python bench/service_read.py --db {args.db} --rounds {args.rounds} "
        f"--duration {args.duration} --connections {args.connections} --threads {args.threads}`",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')} · machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} · load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        "",
        "Each round measures bare Flask, identity direct and the gateway one after the other (wrk "
        f"-t{args.threads} -c{args.connections} -d{args.duration}s, same machine); all three read the same "
        "three communes from the same database.",
        "",
        "| db | round | bare Flask req/s | identity req/s (p50 / p99) | identity / bare (goal ≥ 0.5) "
        "| gateway req/s (p50 / p99) | gateway / identity (goal ≥ 0.5) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    cpu_lines: list[str] = []
    for kind, result in results.items():
        for i, r in enumerate(result["rounds"], 1):
            b, d, g = r["bare"], r["identity"], r["gateway"]
            errors = sum(x["non2xx"] for x in (b, d, g))
            lines.append(
                f"| {kind} | {i} | {b['rps']:.0f} | {d['rps']:.0f} ({d['p50']} / {d['p99']}) | "
                f"**{d['rps'] / b['rps']:.2f}** | {g['rps']:.0f} ({g['p50']} / {g['p99']}) | "
                f"**{g['rps'] / d['rps']:.2f}** |" + (f" non-2xx: {errors}" if errors else ""))
        med = lambda key: statistics.median(r[key]["rps"] for r in result["rounds"])  # noqa: E731
        for i, r in enumerate(result["rounds"], 1):
            cpu_lines.append(_cpu_line(kind, i, r))
        lines.append(f"| {kind} | median | {med('bare'):.0f} | {med('identity'):.0f} | "
                     f"**{med('identity') / med('bare'):.2f}** | {med('gateway'):.0f} | "
                     f"**{med('gateway') / med('identity'):.2f}** |")
    lines += [
        "",
        "CPU per request (user + system of each server's workers during the run, µs): X = identity's for",
        "a direct read, X' = identity's and Y = the gateway's for a read through the gateway. When CPU is",
        "what limits, gateway / identity tends to X / (X' + Y): the figure less moved by other processes.",
        "",
        "| db | round | identity direct X | identity via gateway X' | gateway Y | X / (X' + Y) |",
        "|---|---|---:|---:|---:|---:|",
        *cpu_lines,
    ]
    return "\n".join(lines) + "\n"


def _cpu_line(kind: str, i: int, r: dict) -> str:
    x = r["identity"]["cpu_us"]["identity"]
    x_via, y = r["gateway"]["cpu_us"]["identity"], r["gateway"]["cpu_us"]["gateway"]
    return f"| {kind} | {i} | {x:.0f} | {x_via:.0f} | {y:.0f} | **{x / (x_via + y):.2f}** |"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {kind: measure(kind, args) for kind in args.db.split(",")}
    text = report(results, args)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
