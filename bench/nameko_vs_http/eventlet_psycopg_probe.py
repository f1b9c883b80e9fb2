"""Does psycopg 3 cooperate with eventlet (the concurrency model nameko services run on)?

N green threads each run `SELECT pg_sleep(S)` on their own connection after
`eventlet.monkey_patch()`. If psycopg 3 yields to the eventlet hub while waiting, the batch
takes about S seconds; if it blocks the hub, about N x S. The same batch in OS threads (no
eventlet) is the control. Runs each variant in a fresh interpreter (monkey-patching is
process-wide).

    /tmp/nameko-venv/bin/pip install "psycopg[binary]"
    /tmp/nameko-venv/bin/python bench/nameko_vs_http/eventlet_psycopg_probe.py \
        --dsn "host=127.0.0.1 user=postgres dbname=postgres"

Prints a JSON report.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import sys, time, json
mode, dsn, n, s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if mode == "eventlet":
    import eventlet
    eventlet.monkey_patch()
import psycopg

def one():
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("SELECT pg_sleep(%s)", (s,))

one()  # warm-up: import costs and first connection outside the timing
t0 = time.perf_counter()
if mode == "eventlet":
    pool = eventlet.GreenPool(n)
    for _ in range(n):
        pool.spawn(one)
    pool.waitall()
else:
    import threading
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads: t.start()
    for t in threads: t.join()
print(json.dumps({"mode": mode, "seconds": round(time.perf_counter() - t0, 2),
                  "psycopg": psycopg.__version__}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default="host=127.0.0.1 user=postgres dbname=postgres")
    ap.add_argument("-n", type=int, default=5, help="concurrent queries")
    ap.add_argument("--sleep", type=float, default=1.0, help="seconds each query sleeps")
    args = ap.parse_args()
    report = {"queries": args.n, "each_sleeps_s": args.sleep}
    for mode in ("threads", "eventlet"):
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, mode, args.dsn, str(args.n),
                              str(args.sleep)], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            report[mode] = {"error": out.stderr.strip().splitlines()[-1:]}
            continue
        report[mode] = json.loads(out.stdout)
    ev = report.get("eventlet", {}).get("seconds")
    if ev is not None:
        report["verdict"] = ("eventlet hub BLOCKED by psycopg 3 (queries ran one after another)"
                             if ev > 0.8 * args.n * args.sleep else "cooperative")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
