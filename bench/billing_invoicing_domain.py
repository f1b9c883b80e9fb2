"""CPU cost of billing's invoicing-run computation alone (issue 9): pure Python, no database.

    .venv/bin/python bench/billing_invoicing_domain.py [--families 1000 10000] [--days 20] [--repeat 3]

Builds a realistic month in memory for each family count (two children per family on average,
canteen and after-school care, QF brackets, about 8 % of days absent or cancelled, 1 % without
recorded attendance, 10 % of families without QF, some open credits), then times
`billing.domain.invoicing.draft_run` (best of --repeat) and a second run given the first run's
invoiced keys (must produce nothing). Prints a Markdown table. Goal: linear; 10k families in
well under a few seconds (the whole run with the database has a 60 s budget).
"""
from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from datetime import date, timedelta

from billing.domain.calendar import Month
from billing.domain.invoicing import DayItem, Family, OpenCredit, Prestation, draft_run
from billing.domain.pricing import ChargeRule, PriceGrid, Reason, RuleSet

MONTH = Month(2026, 9)
COMMUNE = "commune-1"
PRESTATIONS = {p.id: p for p in (
    Prestation("meal", "Repas", PriceGrid.of((400, 90), (700, 230), (1_100, 360), (None, 480))),
    Prestation("evening", "Accueil du soir", PriceGrid.of((700, 150), (None, 260)),
               RuleSet({Reason.PRESENT_WITHOUT_BOOKING: ChargeRule.percent(100, plus_cents=200)})),
)}
REASONS = [Reason.PRESENT] * 92 + [Reason.ABSENT_JUSTIFIED] * 3 + [Reason.ABSENT_UNJUSTIFIED] * 2 + \
    [Reason.CANCELLED_LATE] * 2 + [None]


def school_days(month: Month) -> list[date]:
    day, days = month.first_day, []
    while day <= month.last_day:
        if day.weekday() in (0, 1, 3, 4):
            days.append(day)
        day += timedelta(days=1)
    return days


def build_month(family_count: int, days_per_family: int, seed: int = 9):
    rng = random.Random(seed)
    families, items, credits = {}, [], []
    calendar = school_days(MONTH)
    for f in range(family_count):
        qf = None if rng.random() < 0.1 else rng.randint(0, 2_000)
        family = Family(f"fam-{f:06d}", COMMUNE, f"Famille {f:06d}", qf)
        families[family.id] = family
        children = [f"{family.id}-c{c}" for c in range(rng.choice((1, 2, 2, 3)))]
        for n in range(days_per_family):
            child = children[n % len(children)]
            prestation = "meal" if n % 3 else "evening"
            day = calendar[n % len(calendar)]
            items.append(DayItem(f"bk-{f}-{n}", family.id, child, f"Enfant {child[-2:]}", prestation, day,
                                 rng.choice(REASONS)))
        if rng.random() < 0.05:
            credits.append(OpenCredit(f"A-{f}", family.id, COMMUNE, date(2026, 8, 5), rng.randint(100, 3_000)))
    return families, items, credits


def best_of(repeat: int, work):
    """Best wall-clock and best CPU time (the CPU time is what other load on the machine disturbs least)."""
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {platform.machine()}, best of {args.repeat}\n")
    print("| families | day items | documents | lines | warnings | first run (wall) | first run (CPU) "
          "| CPU per 1k items | second run, nothing new (CPU) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count in args.families:
        families, items, credits = build_month(count, args.days)
        seconds, cpu, draft = best_of(args.repeat, lambda: draft_run(COMMUNE, MONTH, families, PRESTATIONS, items,
                                                                open_credits=credits))
        _, again_cpu, again = best_of(args.repeat, lambda: draft_run(
            COMMUNE, MONTH, families, PRESTATIONS, items, open_credits=credits, already_invoiced=draft.invoiced_keys))
        if again.documents:
            print("second run produced documents: idempotence broken", file=sys.stderr)
            return 1
        print(f"| {count:,} | {len(items):,} | {len(draft.documents):,} | {draft.stats.lines:,} | "
              f"{len(draft.warnings):,} | {seconds:.3f} s | {cpu:.3f} s | {cpu / len(items) * 1e6:.1f} ms | "
              f"{again_cpu:.3f} s |".replace(",", "\u202f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
