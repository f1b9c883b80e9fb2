"""What one booking-rush cart costs booking, in process (issue 8): CPU, Python calls and SQL
statements per cart, without the noise of a loaded machine's scheduling.

    .venv/bin/python bench/booking_cart_cpu.py [--carts 100] [--rounds 5] [--lines 20] [--count-calls]

A fresh PostgreSQL database migrated by `python -m booking migrate`; booking's real app built
as `python -m booking web` builds it (`servicekit.testing.service_app`), driven by its ASGI
test client in this process; the catalogue made through the agent API as in
bench/booking_rush.py (capacity large enough that every line is confirmed: no contention, that
is the rush's business). Each cart: `POST /internal/parent/cart/lines` (20 dates) then
`POST /internal/parent/cart/validate` with an Idempotency-Key, one parent after the other.

Prints per cart: CPU time of this process (best of `--rounds`: the least disturbed; the test
client's own work is in it, the same for any version of booking), the CPU time of the
database's PostgreSQL backends (psutil; the carts run one at a time, so nothing else of the
bench's runs there) and SQL statements sent to PostgreSQL; with `--count-calls`, Python and C function calls in every thread instead of the
CPU (a profile hook, which slows everything down). Statements and calls do not depend on the
machine's load, so two versions of the code compare on them even on a busy machine (the old one
with PYTHONPATH pointing at its checkout's libs/servicekit, services/booking and
libs/contracts). Statements are counted at psycopg's cursor (SQLAlchemy's and those booking
sends through psycopg itself); SQLAlchemy's pool_pre_ping, if the version has it, and the
relay's NOTIFY are not counted, nor psycopg's BEGIN and COMMIT.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_common import SECRET, booking_command, booking_env, create_database, parent_token  # noqa: E402
from booking_rush import AGENT_HEADERS, engine_for, make_catalogue, setup_parents  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--carts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--count-calls", action="store_true")
    args = parser.parse_args()
    from servicekit.testing import service_app

    counting = {"on": False, "calls": 0}

    def count(frame, event, arg):  # a profile hook in every thread: Python and C calls
        if counting["on"] and event in ("call", "c_call"):
            counting["calls"] += 1

    if args.count_calls:
        threading.setprofile(count)  # threads started from now on (the client's loop, the workers)
        sys.setprofile(count)

    var = Path(tempfile.mkdtemp(prefix="bench-booking-cart-cpu-"))
    url, drop = create_database("bench_booking_cart_cpu")
    env = booking_env(url, var)
    engine = engine_for(url)
    try:
        booking_command(env, var, "migrate", "--database-only")
        parents_needed = args.carts * (args.rounds + 2)
        with service_app("booking", {"BOOKING_DATABASE_URL": url, "SERVICE_TOKEN_SECRET": SECRET,
                                     "EF_ENV": "development", "LOG_LEVEL": "WARNING"}) as app, \
                app.test_client() as client:
            def call(method, path, **kw):
                r = client.request(method, path, headers=AGENT_HEADERS(), **kw)
                assert r.status_code in (200, 201), (path, r.status_code, r.text)
                return r.json()

            catalogue_args = argparse.Namespace(parents=1, prestations=1, lines=args.lines, pool=args.lines + 5,
                                                capacity_ratio=parents_needed * 10)
            service_id, [(prestation_id, days)] = make_catalogue(call, engine, catalogue_args)
            parents = setup_parents(engine, service_id, parents_needed)
            rng = random.Random(8)
            carts = [(parent_token(family_id, sub), [{"child_id": child_id, "prestation_id": prestation_id,
                                                      "session_date": d} for d in sorted(rng.sample(days, args.lines))])
                     for sub, family_id, child_id in parents]
            statements = []
            import psycopg.sql  # statements counted at psycopg's cursor: booking sends some without SQLAlchemy

            real_execute = psycopg.Cursor.execute

            def counted(cursor, query, *args, **kwargs):
                if counting_statements["on"] and not isinstance(query, psycopg.sql.Composable):  # the relay's NOTIFY
                    statements.append(1)
                return real_execute(cursor, query, *args, **kwargs)

            counting_statements = {"on": False}
            psycopg.Cursor.execute = counted

            def cart(token, lines):
                headers = {"Authorization": f"Bearer {token}"}
                r = client.post("/internal/parent/cart/lines", json={"lines": lines}, headers=headers)
                assert r.status_code == 200, r.text
                r = client.post("/internal/parent/cart/validate", headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
                assert r.status_code == 200 and {line["outcome"] for line in r.json()["lines"]} == {"confirmed"}, r.text

            batches = [carts[i * args.carts:(i + 1) * args.carts] for i in range(args.rounds + 2)]
            for token, lines in batches[0]:  # warm-up: imports, caches, prepared statements
                cart(token, lines)
            cpu, pg_cpu = [], []
            for batch in batches[1:-1]:
                pg_before = backends_cpu(engine)
                started = time.process_time()
                for token, lines in batch:
                    cart(token, lines)
                cpu.append((time.process_time() - started) * 1000 / len(batch))
                pg_after = backends_cpu(engine)
                pg_cpu.append(sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items()) * 1000 / len(batch))
            counting_statements["on"] = True  # the last round only
            counting["on"] = True
            for token, lines in batches[-1]:
                cart(token, lines)
            counting["on"] = False
            counting_statements["on"] = False
            print(f"booking, one cart of {args.lines} lines (add lines + validate), in process:")
            if args.count_calls:
                print(f"  Python and C function calls per cart (every thread): {counting['calls'] / len(batches[-1]):,.0f}")
            else:
                print(f"  CPU per cart: best {min(cpu):.1f} ms (rounds: {', '.join(f'{c:.1f}' for c in cpu)})")
                print(f"  PostgreSQL backends' CPU per cart: best {min(pg_cpu):.2f} ms "
                      f"(rounds: {', '.join(f'{c:.2f}' for c in pg_cpu)})")
            print(f"  SQL statements per cart: {len(statements) / len(batches[-1]):.1f}")
    finally:
        engine.dispose()
        drop()
    return 0


def backends_cpu(engine: sa.Engine) -> dict[int, float]:
    """CPU seconds (user + system) of every other PostgreSQL backend of the bench's database (the
    app's pool, the relay's wake-up connection), by pid."""
    import psutil

    with engine.connect() as conn:
        pids = [r[0] for r in conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[pid] = times.user + times.system
    return out


if __name__ == "__main__":
    sys.exit(main())
