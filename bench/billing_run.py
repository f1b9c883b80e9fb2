"""Billing on PostgreSQL (issue 9): the whole monthly invoicing run, and the payment notification
endpoint under concurrent duplicates.

    .venv/bin/python bench/billing_run.py [--families 1000 10000] [--days 20] [--notify-attempts 200]
                                          [--duplicates 5] [--threads 16]

Part 1, the run. For each family count, a fresh migrated database gets a realistic month
(families with one or two children, canteen and evening care, ~20 booked days per family, QF
brackets, absences, a few unrecorded days) bulk-loaded into billing's tables as booking's events
leave them; then `billing.runs.start_run` (draft: read, price with billing.domain, store every
document and line) and `finalise_run` (numbers, dates, credits, days claimed, period locked) are
timed, each in its own transaction, as `python -m billing run-invoicing --finalise` runs them.
Goal: linear, 10k families under 60 s.

Part 2, notifications. `python -m billing web` (gunicorn, real HTTP) on a fresh database;
N invoices, one online attempt each (through the API), then every attempt's signed "paid"
notification is POSTed D times at once from T threads (the bank's duplicates and retries).
Checked: exactly one payment per attempt, every invoice paid once, total money = sum of the
attempts. Prints Markdown.
"""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime as dt
import hashlib
import hmac
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATIONS = os.path.join(ROOT, "services", "billing", "migrations")
SECRET = "bench-service-token-secret-0123456789abcdef"


def school_days(first: dt.date, last: dt.date) -> list[dt.date]:
    days, day = [], first
    while day <= last:
        if day.weekday() in (0, 1, 3, 4):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def load_month(db, commune: str, month, families: int, days: int, seed: int = 5) -> int:
    """Families, children, grids, QF and booked days, bulk-inserted. Returns the number of days."""
    from servicekit.types import utcnow

    from billing.models import billing_settings, booked_days, children, family_accounts, price_grids
    from billing.models import families as families_table

    rng = random.Random(seed)
    now = utcnow()
    calendar = school_days(month.first_day, month.last_day)
    fam_rows, child_rows, account_rows, day_rows = [], [], [], []
    for f in range(families):
        family_id = f"fam-{f:06d}"
        fam_rows.append({"family_id": family_id, "commune": commune, "family_name": f"Famille {f:06d}",
                         "status": "active", "updated_at": now})
        qf = None if rng.random() < 0.1 else rng.randint(0, 2000)
        account_rows.append({"commune": commune, "family_id": family_id, "qf": qf, "qf_source": "agent",
                             "direct_debit": rng.random() < 0.05, "updated_at": now})
        kids = 1 if rng.random() < 0.5 else 2
        per_child = max(1, days // kids)
        for c in range(kids):
            child_id = f"{family_id}-c{c}"
            child_rows.append({"child_id": child_id, "family_id": family_id, "given_name": f"Enfant{c}",
                               "family_name": f"Famille {f:06d}", "birth_date": dt.date(2017 + c, 4, 2),
                               "changed_at": now})
            booked = 0
            for day in calendar:
                for prestation, ref in (("meal", "REPAS"), ("evening", "PERI-SOIR")):
                    if booked >= per_child:
                        break
                    if ref == "PERI-SOIR" and rng.random() < 0.6:
                        continue
                    roll = rng.random()
                    attendance = ("present" if roll < 0.92 else "absent_justified" if roll < 0.96
                                  else "absent_unjustified" if roll < 0.99 else None)
                    day_rows.append({
                        "day_key": f"{child_id}:{prestation}:{day.isoformat()}", "commune": commune,
                        "family_id": family_id, "child_id": child_id, "prestation_id": prestation, "price_ref": ref,
                        "payment_mode": "end_of_month", "session_date": day, "booking_id": uuid.uuid4().hex,
                        "booking_status": "confirmed", "refund": None, "booking_changed_at": now,
                        "attendance": attendance, "attendance_booked": True if attendance else None,
                        "attendance_changed_at": now if attendance else None})
                    booked += 1
    with db.transaction() as s:
        s.execute(billing_settings.insert().values(
            commune=commune, dates={"publication": {"months_after": 1, "day": 1}, "displayed_deadline":
                                    {"months_after": 1, "day": 31}, "last_day_online": {"months_after": 1, "day": 31},
                                    "due": {"months_after": 2, "day": 31}},
            charge_rules={"absent_unjustified": {"percent": "50", "fixed_cents": 100}},
            unrecorded_as_present=False, updated_at=now))
        s.execute(price_grids.insert(), [
            {"id": str(uuid.uuid4()), "commune": commune, "price_ref": "REPAS", "label": "Repas",
             "service_label": "Restauration scolaire", "childcare": False, "updated_at": now,
             "brackets": [{"upper_qf": 400, "price_cents": 90}, {"upper_qf": 700, "price_cents": 230},
                          {"upper_qf": 1100, "price_cents": 360}, {"upper_qf": None, "price_cents": 480}]},
            {"id": str(uuid.uuid4()), "commune": commune, "price_ref": "PERI-SOIR", "label": "Accueil du soir",
             "service_label": "Périscolaire", "childcare": True, "updated_at": now,
             "brackets": [{"upper_qf": 700, "price_cents": 150}, {"upper_qf": None, "price_cents": 260}]}])
        for table, rows in ((families_table, fam_rows), (children, child_rows), (family_accounts, account_rows),
                            (booked_days, day_rows)):
            for start in range(0, len(rows), 5000):
                s.execute(table.insert(), rows[start:start + 5000])
    return len(day_rows)


def bench_run(families: int, days: int) -> dict:
    from servicekit import migrations
    from servicekit.db import Database
    from servicekit.testing import create_pg_database, drop_pg_database

    from billing import runs
    from billing.domain.calendar import Month
    from billing.domain.numbering import audit_series
    from billing.models import invoices

    url = create_pg_database("billing_bench")
    try:
        migrations.upgrade(MIGRATIONS, url)
        db = Database(url)
        month = Month.of(dt.date.today()).plus(-1)
        loaded = load_month(db, "bench", month, families, days)
        cpu0, t0 = time.process_time(), time.perf_counter()
        with db.transaction() as s:
            run = runs.start_run(s, "bench", str(month), "bench")
        t1 = time.perf_counter()
        with db.transaction() as s:
            runs.finalise_run(s, "bench", run["id"], "bench")
        t2, cpu = time.perf_counter(), time.process_time() - cpu0
        with db.read() as s:
            numbers = list(s.execute(sa.select(invoices.c.number).where(invoices.c.state == "published")).scalars())
        gaps_free = all(a.ok for a in audit_series(numbers).values())
        db.dispose()
        return {"families": families, "days": loaded, "documents": len(numbers), "lines": run["summary"]["lines"],
                "draft_s": t1 - t0, "finalise_s": t2 - t1, "total_s": t2 - t0, "cpu_s": cpu, "gap_free": gaps_free}
    finally:
        drop_pg_database(url)


# --- notifications --------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign(fields: dict, key: str) -> str:
    values = [fields[k] for k in sorted(k for k in fields if k.startswith("vads_"))]
    return base64.b64encode(hmac.new(key.encode(), "+".join([*values, key]).encode(), hashlib.sha256).digest()).decode()


def bench_notifications(attempts: int, duplicates: int, threads: int) -> dict:
    from servicekit import migrations, tokens
    from servicekit.db import Database
    from servicekit.testing import create_pg_database, drop_pg_database
    from servicekit.types import utcnow

    from billing.domain.calendar import Month
    from billing.models import families as families_table
    from billing.models import invoices, payments
    from billing.payments.config import DEV_KEY_TEST

    url = create_pg_database("billing_bench_notify")
    port = free_port()
    env = {**os.environ, "BILLING_DATABASE_URL": url, "SERVICE_TOKEN_SECRET": SECRET, "EF_ENV": "development",
           "LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": "2"}
    server = None
    try:
        migrations.upgrade(MIGRATIONS, url)
        db = Database(url)
        month = Month.of(dt.date.today()).plus(-1)
        today = dt.date.today()
        now = utcnow()
        with db.transaction() as s:
            s.execute(families_table.insert(), [{"family_id": f"fam-{i}", "commune": "bench", "family_name": f"F{i}",
                                                 "status": "active", "updated_at": now} for i in range(attempts)])
            s.execute(invoices.insert(), [{
                "id": f"inv-{i}", "commune": "bench", "family_id": f"fam-{i}", "family_name": f"F{i}", "kind": "invoice",
                "origin": "monthly", "state": "published", "month": str(month), "number": f"F-{month}-{i + 1:07d}",
                "total_cents": 1000 + i, "credited_cents": 0, "paid_cents": 0, "remaining_cents": 0, "issued_on": today,
                "published_on": today, "displayed_deadline": today, "last_day_online": today, "due_on": today,
                "direct_debit": False, "created_at": now} for i in range(attempts)])
        server = subprocess.Popen([sys.executable, "-m", "billing", "web"], env={**env, "BIND": f"127.0.0.1:{port}"},
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(300):
                try:
                    if http.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            bodies = []
            for i in range(attempts):
                caller = tokens.Caller(sub=f"p{i}", role="parent", family_id=f"fam-{i}")
                answer = http.post("/internal/parent/payments", json={"invoice_ids": [f"inv-{i}"],
                                                                      "return_url": "http://127.0.0.1/retour"},
                                   headers={"Authorization": f"Bearer {tokens.mint(caller, 'billing', SECRET)}"})
                answer.raise_for_status()
                form = {f["name"]: f["value"] for f in answer.json()["redirect"]["fields"]}
                fields = {k: form[k] for k in ("vads_site_id", "vads_ctx_mode", "vads_trans_id", "vads_trans_date",
                                               "vads_amount", "vads_currency", "vads_ext_info_eopayment_trans_id")}
                fields.update(vads_result="00", vads_auth_result="00", vads_extra_result="",
                              vads_trans_status="AUTHORISED", vads_trans_uuid=uuid.uuid4().hex,
                              vads_auth_number="123456", vads_url_check_src="PAY", vads_hash="ab" * 32,
                              vads_effective_creation_date=utcnow().strftime("%Y%m%d%H%M%S"))
                fields["signature"] = sign(fields, DEV_KEY_TEST)
                bodies.append(urlencode(fields))
        shots = [body for body in bodies for _ in range(duplicates)]
        random.Random(3).shuffle(shots)

        local = threading.local()  # one keep-alive connection per thread, as a bank's sender has

        def post(body):
            if not hasattr(local, "http"):
                local.http = httpx.Client(base_url=base, timeout=60)
            return local.http.post("/internal/payments/notify", content=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"}).json().get("effect")

        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            effects = list(pool.map(post, shots))
        elapsed = time.perf_counter() - t0
        with db.read() as s:
            paid = s.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(payments.c.amount_cents), 0))
                             ).one()
            settled = s.execute(sa.select(sa.func.count()).select_from(invoices).where(
                invoices.c.paid_cents == invoices.c.total_cents)).scalar()
            over = s.execute(sa.select(sa.func.count()).select_from(invoices).where(
                invoices.c.paid_cents > invoices.c.total_cents)).scalar()
        db.dispose()
        expected_money = sum(1000 + i for i in range(attempts))
        return {"attempts": attempts, "notifications": len(shots), "threads": threads, "seconds": elapsed,
                "per_second": len(shots) / elapsed, "payments": paid[0], "money_ok": paid[1] == expected_money,
                "settled": settled, "overpaid": over, "effects": {e: effects.count(e) for e in set(effects)}}
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        drop_pg_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--notify-attempts", type=int, default=200)
    parser.add_argument("--duplicates", type=int, default=5)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--skip-notify", action="store_true")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, PostgreSQL on 127.0.0.1\n")
    print("| families | booked days | documents | lines | draft (s) | finalise (s) | total (s) | CPU (s) | µs per day | gap-free |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for count in args.families:
        r = bench_run(count, args.days)
        print(f"| {r['families']:,} | {r['days']:,} | {r['documents']:,} | {r['lines']:,} | {r['draft_s']:.2f} | "
              f"{r['finalise_s']:.2f} | {r['total_s']:.2f} | {r['cpu_s']:.2f} | {1e6 * r['total_s'] / r['days']:.0f} | "
              f"{'yes' if r['gap_free'] else 'NO'} |", flush=True)
    if not args.skip_notify:
        r = bench_notifications(args.notify_attempts, args.duplicates, args.threads)
        print("\n| attempts | notifications (dup.) | threads | seconds | per second | payments | invoices paid once | overpaid | money exact | effects |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        print(f"| {r['attempts']} | {r['notifications']} ({args.duplicates}×) | {r['threads']} | {r['seconds']:.2f} | "
              f"{r['per_second']:.0f} | {r['payments']} | {r['settled']} | {r['overpaid']} | "
              f"{'yes' if r['money_ok'] else 'NO'} | {r['effects']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
