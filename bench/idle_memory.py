"""Idle memory of the whole platform, started as `make run` starts it.

    .venv/bin/python bench/idle_memory.py [--db sqlite|postgres] [--settle 20]

Starts scripts/run_platform.py on its own ports and var dir, waits until the gateway reports every
service ready, lets it settle, then sums the memory of every process of the platform's tree:
PSS (proportional set size: shared pages divided among the processes that share them, the
honest total) and RSS (which counts shared pages once per process, so it overstates).
Goal (issue 2): ≤ 1 GiB. The broker and database servers are not part of the platform's tree.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
PORT_BASE = 19000


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the platform exited before being ready")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    sys.exit("the platform was not ready in time")


def measure(root_pid: int) -> tuple[list[tuple[str, float, float]], float, float]:
    rows = []
    root = psutil.Process(root_pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
            cmd = " ".join(proc.cmdline()[1:4]) or proc.name()
            rows.append((cmd, info.pss / 2**20, info.rss / 2**20))
        except psutil.NoSuchProcess:
            continue
    return rows, sum(r[1] for r in rows), sum(r[2] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--settle", type=float, default=20.0, help="seconds idle before measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        cmd = [sys.executable, str(ROOT / "scripts/run_platform.py"), "run", "--port-base", str(PORT_BASE),
               "--var-dir", var_dir, "--db", args.db]
        env = dict(os.environ, EF_PG_PREFIX="ef_bench_memory")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            wait_ready(f"http://127.0.0.1:{PORT_BASE}/health", proc)
            time.sleep(args.settle)  # idle on purpose: this is what is measured
            rows, pss, rss = measure(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"{'process':60} {'PSS MiB':>9} {'RSS MiB':>9}")
    for cmd, p, r in sorted(rows, key=lambda r: -r[1]):
        print(f"{cmd[:60]:60} {p:9.1f} {r:9.1f}")
    print(f"{'TOTAL (' + str(len(rows)) + ' processes)':60} {pss:9.1f} {rss:9.1f}")
    print(f"goal: PSS total <= 1024 MiB -> {'met' if pss <= 1024 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
