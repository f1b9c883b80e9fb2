"""Why the outbox relay is not woken by a NOTIFY inside the writing transaction (issue 11).

PostgreSQL queues notifications in commit order: a transaction that issued NOTIFY takes a
cluster-wide lock at commit and keeps it until its commit is flushed to disk, so notifying
transactions commit one after the other. This measures small write transactions (one INSERT)
committed per second from N connections, without and with a `pg_notify` in each, alternately.

    .venv/bin/python bench/notify_commits.py [--connections 16] [--seconds 4] [--rounds 2]

Needs PostgreSQL (postgres@127.0.0.1:5432, trust); creates and drops its own database.
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import psycopg

from servicekit.testing import create_pg_database, drop_pg_database


def commits_per_second(conninfo: str, notify: bool, connections: int, seconds: float) -> float:
    counts = [0] * connections
    ready = threading.Barrier(connections + 1)
    stop_at: list[float] = []

    def work(i: int) -> None:
        with psycopg.connect(conninfo) as conn:
            ready.wait()
            while time.perf_counter() < stop_at[0]:
                conn.execute("INSERT INTO t (v) VALUES ('x')")
                if notify:
                    conn.execute("SELECT pg_notify('bench_notify', '')")
                conn.commit()
                counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    stop_at.append(time.perf_counter() + seconds)
    ready.wait()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = create_pg_database("notifybench")
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, v text)")
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()[0]:.2f}, "
              f"{args.connections} connections, {args.seconds:g} s each")
        print("| transaction | commits/s |\n|---|---|")
        for _ in range(args.rounds):
            for notify in (False, True):
                rate = commits_per_second(conninfo, notify, args.connections, args.seconds)
                print(f"| INSERT{' + pg_notify' if notify else ''} | {rate:.0f} |", flush=True)
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        drop_pg_database(url)


if __name__ == "__main__":
    main()
