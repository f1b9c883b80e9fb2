"""`python -m billing run-invoicing --commune X --month 2026-09 [--finalise]`: the monthly run from
the command line, with a progress bar (tqdm on stderr).

It drafts the run (any earlier draft of the commune is discarded), prints its summary and
warnings count, and with `--finalise` publishes it in a second transaction. Killed at any point,
it leaves the previous state or the draft: running it again gives the same documents.
"""
from __future__ import annotations

import json
import os
import sys

from tqdm import tqdm


def _configure(parser) -> None:
    parser.add_argument("--commune", required=True)
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--finalise", action="store_true", help="publish the run after drafting it")
    parser.add_argument("--agent", default="cli", help="recorded as the run's author")


class _Bar:
    def __init__(self, label: str, phase: str):
        self.bar = tqdm(desc=label, unit="documents", file=sys.stderr, mininterval=0.5)
        # Tests: BILLING_FAULT_KILL=draft|finalise dies in the middle of that phase's transaction.
        self.die = os.environ.get("BILLING_FAULT_KILL") == phase

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()
        if self.die:
            os._exit(137)  # as if killed: no rollback code, no commit

    def close(self) -> None:
        self.bar.close()


def _run(args) -> int:
    from servicekit.problems import Problem

    from billing import runs
    from billing.db import get_db

    db = get_db()
    bar = _Bar(f"Brouillon {args.commune} {args.month}", "draft")
    try:
        with db.transaction() as session:
            run = runs.start_run(session, args.commune, args.month, args.agent, progress=bar)
        bar.close()
        if args.finalise:
            bar = _Bar("Finalisation", "finalise")
            with db.transaction() as session:
                run = runs.finalise_run(session, args.commune, run["id"], args.agent, progress=bar)
            bar.close()
    except (Problem, ValueError) as exc:
        bar.close()
        print(f"run-invoicing: {getattr(exc, 'detail', None) or exc}", file=sys.stderr)
        return 1
    print(json.dumps(run, ensure_ascii=False, indent=2))
    return 0


COMMANDS = {"run-invoicing": ("draft (and --finalise) a commune's monthly invoicing run", _configure, _run)}
