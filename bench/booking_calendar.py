"""A child's month calendar on booking (issues 6 and 8), on PostgreSQL, with ~1k and with ~100k
bookings in the database, each beside a bare Flask app doing the same work, in one run.

    .venv/bin/python bench/booking_calendar.py [--small 1000] [--large 100000] [--month 2027-01]
        [--rounds 3] [--duration 10] [--connections 16] [--threads 2] [--out FILE]

Setup: two fresh PostgreSQL databases, each `python -m booking migrate` and `seed-demo`
(Heillecourt's 2026-2027 catalogue, the demo family, Léa's canteen days booked), then bookings
added in bulk (INSERT … SELECT, consistent with the schema: families, children and enrolments of
the projections, confirmed canteen bookings of every séance, the séances' `confirmed` counters
recounted, never above capacity; for --large, more communes seeded with `seed_catalogue`), one
to `--small` bookings in all, the other to `--large`, then ANALYZE. On each database, side by side:
  - booking: `python -m booking web` (gunicorn, 2 uvicorn workers): connexion, the service token
    checked, `Database.run_read` (one snapshot) in a worker thread;
  - bare:    bench/baselines/bare_booking_calendar.py under gunicorn, 2 sync workers: the same
    use case `booking.parents.month_calendar` on a plain SQLAlchemy session, no token, no
    validation (the floor).
All four serve `GET /internal/parent/children/{Léa}/calendar?service_id={canteen}&month=...`
(bare and booking must return the same document). Every round measures the four with wrk one
after the other (small bare, small booking, large bare, large booking) and times the use case
alone in this process (wall and CPU), so the machine's noise falls on all alike.
Goals: booking at --large ≥ 1/1.5 of booking at --small (≤ 1.5× growth, issue 8); booking ≥ 0.5 of
bare (issue 6). Prints a Markdown report (also appended to --out).
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_common import (DEMO_FAMILY, LEA, PY, ROOT, booking_command, booking_env, create_database,  # noqa: E402
                            free_port, load_average, parent_token, start_booking, stop, wait_ok, wrk)

CANTEEN_CAPACITY_MARGIN = 170  # children per commune: the demo canteen has 180 places


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))


def count_bookings(conn) -> int:
    return conn.execute(sa.text("SELECT count(*) FROM bookings")).scalar_one()


def canteen(conn, commune: str) -> tuple[str, str, int]:
    row = conn.execute(sa.text(
        "SELECT p.service_id, p.id, (SELECT count(*) FROM sessions s WHERE s.prestation_id = p.id) "
        "FROM prestations p WHERE p.commune = :c AND p.code = 'cantine-repas'"), {"c": commune}).one()
    return row[0], row[1], row[2]


def book_children(conn, commune: str, tag: str, children: int, limit: int) -> None:
    """`children` new families of `commune` with one child each, enrolled in the canteen for the
    school year and booked (confirmed) for its séances, `limit` bookings at most."""
    service_id, prestation_id, _ = canteen(conn, commune)
    params = {"c": commune, "tag": tag, "n": children, "s": service_id, "p": prestation_id, "limit": limit}
    conn.execute(sa.text(
        "INSERT INTO families (family_id, commune, family_name, status, updated_at) "
        "SELECT :tag || '-' || g, :c, 'Bench', 'active', now() FROM generate_series(1, :n) g"), params)
    conn.execute(sa.text(
        "INSERT INTO children (child_id, family_id, given_name, family_name, changed_at) "
        "SELECT md5(:tag || '-' || g)::uuid::text, :tag || '-' || g, 'Enfant', 'Bench', now() "
        "FROM generate_series(1, :n) g"), params)
    conn.execute(sa.text(
        "INSERT INTO enrolments (id, commune, family_id, child_id, service_id, first, last, fixed_weekdays, "
        "created_by, created_at, updated_at) SELECT gen_random_uuid()::text, :c, family_id, child_id, :s, "
        "DATE '2026-09-01', DATE '2027-07-02', '[]', 'bench', now(), now() FROM children "
        "WHERE family_id LIKE :tag || '-%'"), params)
    conn.execute(sa.text(
        "INSERT INTO bookings (id, commune, family_id, child_id, service_id, prestation_id, session_date, status, "
        "created_at, updated_at) SELECT gen_random_uuid()::text, :c, c.family_id, c.child_id, :s, s.prestation_id, "
        "s.session_date, 'confirmed', now(), now() FROM children c CROSS JOIN sessions s "
        "WHERE c.family_id LIKE :tag || '-%' AND s.prestation_id = :p LIMIT :limit"), params)
    conn.execute(sa.text(
        "UPDATE sessions s SET confirmed = x.n FROM (SELECT prestation_id, session_date, count(*) AS n FROM bookings "
        "WHERE prestation_id = :p AND status IN ('confirmed', 'held', 'pending_agent', 'cancellation_requested') "
        "GROUP BY 1, 2) x WHERE s.prestation_id = x.prestation_id AND s.session_date = x.session_date"), params)


def fill(url: str, target: int) -> int:
    """Bookings up to `target` in all; returns the count."""
    from sqlalchemy.orm import Session

    from booking.seed import seed_catalogue

    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            have = count_bookings(conn)
            communes = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT commune FROM prestations ORDER BY 1"))]
        n = 0
        while have < target:
            commune = "heillecourt" if n == 0 and "heillecourt" in communes else f"bench-{n}"
            n += 1
            with engine.begin() as conn:
                if commune not in communes:
                    with Session(bind=conn) as session:
                        seed_catalogue(session, commune)
                        session.flush()
                    communes.append(commune)
                taken = conn.execute(sa.text("SELECT count(*) FROM children c JOIN families f USING (family_id) "
                                             "WHERE f.commune = :c"), {"c": commune}).scalar_one()
                days = canteen(conn, commune)[2]
                room = CANTEEN_CAPACITY_MARGIN - taken
                if room <= 0:
                    continue
                children = min(room, math.ceil((target - have) / days))
                book_children(conn, commune, f"bench-{commune}-{taken}", children, target - have)
                have = count_bookings(conn)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
            over = conn.execute(sa.text(
                "SELECT count(*) FROM sessions s JOIN prestations p ON p.id = s.prestation_id "
                "WHERE s.confirmed + s.held > coalesce(s.capacity, p.capacity)")).scalar_one()
        assert over == 0, f"{over} séances above capacity"
        return have
    finally:
        engine.dispose()


def use_case_cost(url: str, service_id: str, month: str, calls: int = 30) -> tuple[float, float]:
    """Wall and CPU milliseconds of one `month_calendar` call in this process (no HTTP): CPU time
    is what the machine's other load does not inflate."""
    from sqlalchemy.orm import Session

    from booking.parents import month_calendar
    from servicekit.tokens import Caller

    caller = Caller(sub="bench-parent", role="parent", family_id=DEMO_FAMILY)
    engine = engine_for(url)
    try:
        for n in range(calls + 5):
            if n == 5:  # after the warm-up
                wall, cpu = time.perf_counter(), time.process_time()
            with Session(engine) as session:
                month_calendar(session, caller, LEA, service_id, month)
        return (time.perf_counter() - wall) * 1000 / calls, (time.process_time() - cpu) * 1000 / calls
    finally:
        engine.dispose()


def start_pair(url: str, var: Path, env: dict) -> tuple[dict, list[subprocess.Popen]]:
    """booking web and the bare baseline on the database `url`; returns their ports and processes."""
    ports = {"bare": free_port(), "booking": free_port()}
    booking = start_booking(env, var, ports["booking"])
    bare = subprocess.Popen([PY, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{ports['bare']}",
                             "--log-level", "warning", "--chdir", str(ROOT), "bench.baselines.bare_booking_calendar:app"],
                            env={**env, "DATABASE_URL": url, "BENCH_FAMILY_ID": DEMO_FAMILY},
                            cwd=var, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ports, [booking, bare]


def measure(args) -> dict:
    """Two databases side by side (--small and --large bookings), each with its booking web and
    its bare baseline; every round measures the four one after the other, so the machine's
    noise falls on all of them alike."""
    from booking.seed import stable_id

    service_id = stable_id("heillecourt", "service", "cantine")
    path = f"/internal/parent/children/{LEA}/calendar?service_id={service_id}&month={args.month}"
    headers = {"Authorization": f"Bearer {parent_token(DEMO_FAMILY)}"}
    procs: list[subprocess.Popen] = []
    drops = []
    try:
        sides = {}
        for label, target in (("small", args.small), ("large", args.large)):
            var = Path(tempfile.mkdtemp(prefix=f"bench-booking-calendar-{label}-"))
            url, drop = create_database(f"bench_booking_cal_{label}")
            drops.append(drop)
            env = booking_env(url, var)
            booking_command(env, var, "migrate")
            booking_command(env, var, "seed-demo")
            bookings = fill(url, target)
            ports, pair = start_pair(url, var, env)
            procs += pair
            urls = {name: f"http://127.0.0.1:{port}{path}" for name, port in ports.items()}
            wait_ok(urls["bare"], pair[1])
            wait_ok(urls["booking"], pair[0], headers)
            sides[label] = {"url": url, "urls": urls, "bookings": bookings}
        results = {label: {"bookings": side["bookings"], "rounds": [], "cost": []} for label, side in sides.items()}
        for label, side in sides.items():
            bodies = {name: requests.get(u, headers=headers, timeout=30).json() for name, u in side["urls"].items()}
            assert bodies["bare"] == bodies["booking"], "bare and booking disagree"
            days = [d for p in bodies["booking"]["prestations"] for d in p["days"]]
            results[label].update(days=len(days), booked=sum(d["state"] == "booked" for d in days))
            for u in side["urls"].values():  # warm-up: every worker, every pool
                wrk(u, 3, args.connections, args.threads, headers)
        for _ in range(args.rounds):
            for label, side in sides.items():
                results[label]["cost"].append(use_case_cost(side["url"], service_id, args.month))
                results[label]["rounds"].append({name: wrk(u, args.duration, args.connections, args.threads, headers)
                                                 for name, u in side["urls"].items()})
        for result in results.values():
            result["cost"] = tuple(statistics.median(c[i] for c in result["cost"]) for i in (0, 1))
        return results
    finally:
        stop(procs)
        for drop in drops:
            drop()


def report(results: dict, args) -> str:
    med = lambda label, name: statistics.median(r[name]["rps"] for r in results[label]["rounds"])  # noqa: E731
    small, large = med("small", "booking"), med("large", "booking")
    growth = small / large
    lines = [
        f"### Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `.venv/bin/python bench/booking_calendar.py --small {args.small} --large {args.large} "
        f"--month {args.month} --rounds {args.rounds} --duration {args.duration} --connections {args.connections} "
        f"--threads {args.threads}`",
        f"Machine: {platform.machine()}, {__import__('os').cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average at the end: {load_average()}",
        f"Calendar: Léa's canteen, {args.month}: {results['small']['days']} dates, "
        f"{results['small']['booked']} of them booked; wrk -t{args.threads} -c{args.connections} -d{args.duration}s.",
        "",
        "| bookings in the database | round | bare Flask req/s (p50 / p99) | booking req/s (p50 / p99) "
        "| booking / bare (goal ≥ 0.5) |",
        "|---:|---|---:|---:|---:|",
    ]
    for label in ("small", "large"):
        result = results[label]
        for i, r in enumerate(result["rounds"], 1):
            b, d = r["bare"], r["booking"]
            errors = b["non2xx"] + d["non2xx"]
            lines.append(f"| {result['bookings']:,} | {i} | {b['rps']:.0f} ({b['p50']} / {b['p99']}) | "
                         f"{d['rps']:.0f} ({d['p50']} / {d['p99']}) | **{d['rps'] / b['rps']:.2f}** |"
                         + (f" non-2xx: {errors}" if errors else ""))
    ratio_small = small / med("small", "bare")
    ratio_large = large / med("large", "bare")
    lines += [
        "",
        f"Growth from {results['small']['bookings']:,} to {results['large']['bookings']:,} bookings: booking "
        f"{small:.0f} → {large:.0f} req/s = **{growth:.2f}×** (goal ≤ 1.5×: {'met' if growth <= 1.5 else 'NOT met'}); "
        f"bare {med('small', 'bare'):.0f} → {med('large', 'bare'):.0f} req/s.",
        "The use case alone, in the bench process (no HTTP), per call (median of the rounds): "
        + ", ".join(f"{results[k]['bookings']:,} bookings {results[k]['cost'][0]:.1f} ms wall / "
                    f"{results[k]['cost'][1]:.1f} ms CPU" for k in ("small", "large")) + ".",
        f"Booking / bare: **{ratio_small:.2f}** at {results['small']['bookings']:,}, **{ratio_large:.2f}** at "
        f"{results['large']['bookings']:,} (goal ≥ 0.5: "
        f"{'met' if min(ratio_small, ratio_large) >= 0.5 else 'NOT met'}).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--month", default="2027-01")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = report(measure(args), args)
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
