"""Flask gateway -> trivial service: nameko RPC vs HTTP (requests) vs a direct call.

For each backend process count N in --service-procs (default "1,2") it starts, on
127.0.0.1 only:
  - the nameko service     N x `nameko run nameko_service --broker $AMQP`  (eventlet)
  - the HTTP service       `gunicorn -k gthread -w N --threads 8 http_service:app`
  - the gateway            `gunicorn -k gthread -w 2 --threads 8 gateway:app`
then loads GET /direct, /http and /nameko of the gateway in turn with `wrk`, for --rounds
interleaved rounds (bounded: a short warm-up, then --duration seconds each, at most 30; the
median round is reported) and stops everything
it started. Then it runs the reliability probe (reliability_probe.py) and the
psycopg-under-eventlet probe (eventlet_psycopg_probe.py, needs a PostgreSQL: --pg-dsn), and
writes a Markdown report with the commands and the numbers.

Run with the throwaway venv that has nameko + eventlet + flask + gunicorn + requests + psycopg:

    /tmp/nameko-venv/bin/python bench/nameko_vs_http/run_bench.py \
        --out bench/results/nameko_vs_http.md

Without `wrk` on PATH, a small threaded Python client (http.client, keep-alive) is used.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MAX_DURATION = 30


def wait_http(url: str, timeout: float = 20.0) -> None:
    host, _, rest = url.removeprefix("http://").partition("/")
    h, p = host.split(":")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(h, int(p), timeout=2)
            conn.request("GET", "/" + rest)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return
            last = f"HTTP {resp.status}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s: {last}")


def parse_wrk(out: str) -> dict:
    def num(pattern: str) -> str | None:
        m = re.search(pattern, out, re.MULTILINE)
        return m.group(1) if m else None

    def ms(text: str | None) -> float | None:
        if text is None:
            return None
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
        if not m:
            return None
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
        return round(float(m.group(1)) * factor, 2)

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(num(r"Requests/sec:\s+([\d.]+)") or 0),
        "requests": int(num(r"(\d+) requests in") or 0),
        "p50_ms": ms(num(r"^\s*50%\s+(\S+)$")),
        "p99_ms": ms(num(r"^\s*99%\s+(\S+)$")),
        "non_2xx": int(num(r"Non-2xx or 3xx responses: (\d+)") or 0),
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def python_load(url: str, connections: int, duration: float) -> dict:
    """Fallback load generator: `connections` threads, each with one keep-alive connection."""
    host, _, rest = url.removeprefix("http://").partition("/")
    h, p = host.split(":")
    stop = time.monotonic() + duration
    lat: list[float] = []
    bad = [0]
    lock = threading.Lock()

    def run():
        conn = http.client.HTTPConnection(h, int(p), timeout=10)
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/" + rest)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection(h, int(p), timeout=10)
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    bad[0] += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    lat.sort()
    pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2)) if lat else (lambda q: None)
    return {"rps": round(len(lat) / elapsed, 2), "requests": len(lat), "p50_ms": pick(0.50),
            "p99_ms": pick(0.99), "non_2xx": bad[0], "socket_errors": 0}


def load(url: str, args, warmup: bool) -> tuple[dict, str]:
    wrk = shutil.which("wrk")
    if wrk:
        if warmup:
            warm = [wrk, "-t1", f"-c{args.connections}", f"-d{args.warmup}s", url]
            subprocess.run(warm, check=True, capture_output=True, timeout=args.warmup + 15)
        cmd = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                             timeout=args.duration + 15).stdout
        return {**parse_wrk(out), "raw": out.strip()}, "wrk " + " ".join(cmd[1:])
    if warmup:
        python_load(url, args.connections, args.warmup)
    return (python_load(url, args.connections, args.duration),
            f"python threaded client, {args.connections} keep-alive connections, {args.duration}s")


def measure(args, service_procs: int, load_cmds: dict) -> tuple[dict, dict]:
    """Start the services (`service_procs` processes each) and the gateway, load the three
    endpoints, stop everything. Returns (results per endpoint, commands used)."""
    run_id = uuid.uuid4().hex[:8]
    nameko_name = f"benchecho{run_id}"
    env = dict(os.environ, PYTHONWARNINGS="ignore", NAMEKO_SERVICE_NAME=nameko_name,
               AMQP_URI=args.amqp, SERVICE_URL=f"http://127.0.0.1:{args.service_port}")
    commands = {
        **{f"nameko service #{i + 1}": [str(BIN / "nameko"), "run", "nameko_service",
                                        "--broker", args.amqp] for i in range(service_procs)},
        "http service": [str(BIN / "gunicorn"), "-k", "gthread", "-w", str(service_procs),
                         "--threads", "8", "-b", f"127.0.0.1:{args.service_port}",
                         "--log-level", "warning", "http_service:app"],
        "gateway": [str(BIN / "gunicorn"), "-k", "gthread", "-w", "2", "--threads", "8",
                    "-b", f"127.0.0.1:{args.gateway_port}", "--log-level", "warning",
                    "gateway:app"],
    }
    procs: list[subprocess.Popen] = []
    results: dict[str, dict] = {}
    logs = open(f"/tmp/nameko_vs_http-{run_id}.log", "w")
    try:
        for cmd in commands.values():
            procs.append(subprocess.Popen(cmd, cwd=HERE, env=env, stdout=logs, stderr=logs,
                                          start_new_session=True))
        gw = f"http://127.0.0.1:{args.gateway_port}"
        wait_http(f"http://127.0.0.1:{args.service_port}/ping?value=x")
        for ep in ("direct", "http", "nameko"):
            wait_http(f"{gw}/{ep}?value=x", timeout=30)
        # Rounds interleave the three endpoints so that a change in background load on the
        # (shared) machine hits all of them alike; the report gives the median round.
        rounds: dict[str, list[dict]] = {ep: [] for ep in ("direct", "http", "nameko")}
        for rnd in range(args.rounds):
            for ep in rounds:
                before = os.getloadavg()[0]
                r, load_cmds[ep] = load(f"{gw}/{ep}?value=x", args, warmup=rnd == 0)
                # The 1-minute load average around the measurement: other work on the machine
                # shows up here.
                r["loadavg"] = f"{before:.1f} -> {os.getloadavg()[0]:.1f}"
                rounds[ep].append(r)
                summary = {k: v for k, v in r.items() if k != "raw"}
                print(f"service processes={service_procs} round={rnd + 1}", ep, json.dumps(summary), flush=True)
        for ep, rs in rounds.items():
            ordered = sorted(rs, key=lambda r: r["rps"])
            median = ordered[len(ordered) // 2]
            results[ep] = {**median, "rounds_rps": [round(r["rps"]) for r in rs],
                           "raw": "\n\n".join(f"(round {i + 1})\n{r.get('raw', '')}" for i, r in enumerate(rs))}
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        logs.close()
        _delete_queue(args.amqp, f"rpc-{nameko_name}")
    return results, commands


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--duration", type=int, default=10, help=f"seconds per measurement (<= {MAX_DURATION})")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint, first round only")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the three endpoints")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--gateway-port", type=int, default=18100)
    ap.add_argument("--service-port", type=int, default=18101)
    ap.add_argument("--service-procs", default="1,2",
                    help="comma-separated process counts for each backend service (one measurement set each)")
    ap.add_argument("--pg-dsn", default="host=127.0.0.1 user=postgres dbname=postgres",
                    help="PostgreSQL for eventlet_psycopg_probe.py")
    ap.add_argument("--out", type=Path, help="write the Markdown report here")
    args = ap.parse_args()
    if not 1 <= args.duration <= MAX_DURATION:
        ap.error(f"--duration must be between 1 and {MAX_DURATION}")

    procs_list = [int(x) for x in args.service_procs.split(",")]
    all_results: dict[int, dict[str, dict]] = {}
    load_cmds: dict[str, str] = {}
    commands: dict[str, list[str]] = {}
    for n in procs_list:
        all_results[n], commands = measure(args, n, load_cmds)

    probe = subprocess.run([sys.executable, "-W", "ignore", str(HERE / "reliability_probe.py"),
                            "--amqp", args.amqp], capture_output=True, text=True, timeout=120)
    probe_report = json.loads(probe.stdout) if probe.returncode == 0 else {"error": probe.stdout + probe.stderr[-2000:]}
    print(json.dumps(probe_report, indent=2))
    pg = subprocess.run([sys.executable, str(HERE / "eventlet_psycopg_probe.py"), "--dsn", args.pg_dsn],
                        capture_output=True, text=True, timeout=200)
    pg_report = json.loads(pg.stdout) if pg.returncode == 0 else {"error": pg.stdout + pg.stderr[-2000:]}
    print(json.dumps(pg_report, indent=2))

    if args.out:
        args.out.write_text(render(args, all_results, load_cmds, commands, probe_report, pg_report))
        print(f"report written to {args.out}")
    return 0


def _delete_queue(amqp: str, name: str) -> None:
    from kombu import Connection, Queue
    try:
        with Connection(amqp) as conn:
            Queue(name, channel=conn.channel()).delete()
    except Exception as exc:  # report, do not hide
        print(f"warning: could not delete queue {name}: {exc!r}", file=sys.stderr)


def broker_version(amqp: str) -> str:
    from kombu import Connection
    try:
        with Connection(amqp) as conn:
            conn.connect()
            props = conn.connection.server_properties
            return f"{props.get('product', '?')} {props.get('version', '?')}"
    except Exception as exc:
        return f"(version unknown: {exc!r})"


def render(args, all_results, load_cmds, commands, probe, pg_report) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    tables = []
    for n, results in all_results.items():
        direct = results["direct"]["rps"] or 1
        rows = "\n".join(
            f"| {label} | {r['rps']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['requests']} | "
            f"{r['non_2xx'] + r['socket_errors']} | {r['rps'] / direct:.2f} | "
            f"{', '.join(map(str, r['rounds_rps']))} | {r['loadavg']} |"
            for label, r in (("direct Flask call (`/direct`)", results["direct"]),
                             ("HTTP hop, pooled `requests.Session` (`/http`)", results["http"]),
                             ("nameko RPC, pooled `ClusterRpcProxy` (`/nameko`)", results["nameko"])))
        tables.append(f"""### Backend service with {n} process{'es' if n > 1 else ''}
(nameko: {n} `nameko run` process{'es' if n > 1 else ''} on one RPC queue; HTTP: gunicorn `-w {n}`)

| path | requests/s (median round) | p50 ms | p99 ms | requests | errors | vs direct | requests/s of each round | load avg (1 min) of the median round |
|---|---:|---:|---:|---:|---:|---:|---|---|
{rows}
""")
    raw = "\n\n".join(f"# service processes={n}, /{ep}\n{r['raw']}"
                      for n, results in all_results.items() for ep, r in results.items() if r.get("raw"))
    rel = json.dumps(probe, indent=2)
    return f"""# nameko RPC vs HTTP vs direct, and nameko event reliability

Recorded by `bench/nameko_vs_http/run_bench.py` on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.
One run, same machine, everything on 127.0.0.1.

## Environment
- Machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}
- Python {platform.python_version()} in a throwaway venv (`/tmp/nameko-venv`, not the repo's .venv)
- nameko {version('nameko')}, eventlet {version('eventlet')}, kombu {version('kombu')},
  Flask {version('flask')}, gunicorn {version('gunicorn')}, requests {version('requests')}
- Broker: {broker_version(args.amqp)} at {args.amqp.split('@')[-1]}
- Load generator: {load_cmds.get('direct', '?').split(' ')[0]}

## Commands
```
# setup (once)
python3.11 -m venv /tmp/nameko-venv
/tmp/nameko-venv/bin/pip install nameko eventlet flask gunicorn requests "psycopg[binary]"
# run (starts and stops the processes below by itself)
/tmp/nameko-venv/bin/python bench/nameko_vs_http/run_bench.py --rounds {args.rounds} --duration {args.duration} --connections {args.connections} --service-procs {args.service_procs} --out bench/results/nameko_vs_http.md
```
Processes started by the script (cwd `bench/nameko_vs_http/`), for the largest process count:
```
{chr(10).join(f'{k:15} {" ".join(Path(c).name if i == 0 else c for i, c in enumerate(v))}' for k, v in commands.items())}
```
Load, per endpoint and round (a {args.warmup} s warm-up with the same settings before the first):
```
{chr(10).join(f'{ep:7} {cmd}' for ep, cmd in load_cmds.items())}
```

## Throughput: a Flask endpoint answering through each path
The gateway is the same in every row (gunicorn gthread, 2 workers x 8 threads); only the way
it gets its answer changes. {args.rounds} rounds, each loading `/direct`, `/http`, `/nameko` in
turn for {args.duration} s with {args.connections} connections; each row shows the round with
the median throughput (its latency and request count) and, for the spread, every round.

{chr(10).join(tables)}
## Reliability probe (`reliability_probe.py`)
```json
{rel}
```
Reading: **b** an event dispatched by a running nameko service (its exchange exists) before
the consumer service has ever started is confirmed to the publisher and silently dropped
(nameko publishes with `mandatory=False`); the consumer only gets events published after its
queue exists. Nameko's standalone dispatcher, used before the exchange exists, gets a 404
channel error instead. **c** with default settings a handler that raises is called once and
its message is acked: the event is gone. The opt-in `requeue_on_error=True` requeues at once,
without delay, limit or dead-letter queue, so one poison event loops at the rate shown.

## psycopg 3 under eventlet (`eventlet_psycopg_probe.py`)
{pg_report.get('queries')} concurrent `SELECT pg_sleep({pg_report.get('each_sleeps_s')})`, each on its own connection:
```json
{json.dumps(pg_report, indent=2)}
```
A nameko service's database calls through psycopg 3 stop every other green thread of the
process for their whole duration (psycopg 3's wait loop, C code in the binary package, does
not go through the Python modules eventlet patches).

## Raw load-generator output
```
{raw}
```
"""


if __name__ == "__main__":
    sys.exit(main())
