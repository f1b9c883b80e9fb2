"""A child's month calendar on booking beside bare Flask doing the same work, on SQLite (issue 6:
"a service's trivial database read ≥ 0.5 of bare Flask, on SQLite and on PostgreSQL";
bench/booking_calendar.py measures PostgreSQL, with 1k and 100k bookings).

    .venv/bin/python bench/booking_calendar_sqlite.py [--rounds 3] [--duration 10]

One SQLite database (`python -m booking migrate` and `seed-demo`: Heillecourt's catalogue, the
demo family, Léa's canteen days booked); `python -m booking web` (gunicorn, 2 uvicorn workers)
and bench/baselines/bare_booking_calendar.py (gunicorn, 2 sync workers) on it, started as
bench/booking_calendar.py starts them; both must return the same document. Every round measures
bare then booking with wrk -t2 -c16; prints each round's req/s and booking / bare, and the median.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import booking_calendar as calendar  # noqa: E402
from booking_common import DEMO_FAMILY, LEA, booking_command, booking_env, parent_token, stop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    from booking.seed import stable_id

    var = Path(tempfile.mkdtemp(prefix="bench-booking-calendar-sqlite-"))
    url = f"sqlite:///{var}/booking.db"
    env = booking_env(url, var)
    booking_command(env, var, "migrate")
    booking_command(env, var, "seed-demo")
    service_id = stable_id("heillecourt", "service", "cantine")
    path = f"/internal/parent/children/{LEA}/calendar?service_id={service_id}&month=2027-01"
    headers = {"Authorization": f"Bearer {parent_token(DEMO_FAMILY)}"}
    ports, procs = calendar.start_pair(url, var, env)
    try:
        urls = {name: f"http://127.0.0.1:{port}{path}" for name, port in ports.items()}
        calendar.wait_ok(urls["bare"], procs[1])
        calendar.wait_ok(urls["booking"], procs[0], headers)
        bodies = {name: requests.get(u, headers=headers, timeout=30).json() for name, u in urls.items()}
        assert bodies["bare"] == bodies["booking"], "bare and booking disagree"
        for u in urls.values():  # warm-up: every worker, every pool
            calendar.wrk(u, 3, 16, 2, headers)
        print("| round | bare Flask req/s | booking req/s | booking / bare (goal ≥ 0.5) |\n|---|---:|---:|---:|")
        ratios = []
        for n in range(args.rounds):
            rps = {name: calendar.wrk(u, args.duration, 16, 2, headers)["rps"] for name, u in urls.items()}
            ratios.append(rps["booking"] / rps["bare"])
            print(f"| {n + 1} | {rps['bare']:.0f} | {rps['booking']:.0f} | **{ratios[-1]:.2f}** |", flush=True)
        print(f"| median | | | **{statistics.median(ratios):.2f}** |")
    finally:
        stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
