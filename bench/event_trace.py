"""One event's timeline through the outbox -> relay -> consumer path (bench/events.py --trace).

The relay and consumer worker processes of the benchmark stamp, per event, the moments of the
path (time.time(), same clock as the producer's commit stamp), by wrapping servicekit's methods
from the outside (nothing in servicekit knows about it):
relay: woken (LISTEN returned or the previous round ended), rows claimed, publishes written,
       confirms in, round committed; and each wait for a NOTIFY, so that a round whose rows
       were found by the poll (the wait ran out: a missed or late wake-up) is told apart;
consumer: delivery read off the socket, its batch started, batch committed (the bench's own
       stamp), batch acked.
`breakdown` turns them, with the producer's commit times, into the median / p90 / p99 of each
step, so that a latency can be read as "where the milliseconds go", and lists the slowest
rounds with the time they started (UTC, to set beside PostgreSQL's log: checkpoints, autovacuum).
"""
from __future__ import annotations

import json
import statistics
import threading
import time
from collections import deque
from pathlib import Path


class _StampingDeque(deque):
    def __init__(self, stamps: dict):
        super().__init__()
        self._stamps = stamps

    def append(self, item) -> None:
        message = item[1]
        self._stamps[message.properties.get("message_id")] = time.time()
        super().append(item)


def install_consumer() -> dict:
    from servicekit.messaging.consumer import ConsumerLoop

    trace = {"received": {}, "batch_started": {}, "acked": {}, "batch_size": {}}
    lock = threading.Lock()
    init, process = ConsumerLoop.__init__, ConsumerLoop._process_pending

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._deliveries = _StampingDeque(trace["received"])

    def patched_process(self):
        ids = [m.properties.get("message_id") for _, m in list(self._deliveries)[: self.batch_size]]
        started = time.time()
        process(self)
        done = time.time()
        with lock:
            for event_id in ids:
                trace["batch_started"][event_id] = started
                trace["acked"][event_id] = done
                trace["batch_size"][event_id] = len(ids)

    ConsumerLoop.__init__, ConsumerLoop._process_pending = patched_init, patched_process
    return trace


def install_relay() -> dict:
    from servicekit.messaging import relay as relay_module
    from servicekit.messaging.confirms import ConfirmingPublisher

    trace = {"rounds": [], "event_round": {}, "empty_rounds": 0}
    current: dict = {}
    last_wait: dict = {}
    claim, publish, relay_round = (relay_module.Relay._claim, ConfirmingPublisher.publish,
                                   relay_module.Relay._relay_round)

    def patched_round(self):
        current.clear()
        current["start"] = time.time()
        current["after_poll"] = last_wait.pop("timed_out", False)
        n = relay_round(self)
        if n:
            current["committed"] = time.time()
            trace["rounds"].append(dict(current))
        else:
            trace["empty_rounds"] += 1
        return n

    def patched_claim(self, session, *, lock):
        rows = claim(self, session, lock=lock)
        current["claimed"] = time.time()
        for row in rows:
            trace["event_round"][row.event_id] = len(trace["rounds"])
        current["n"] = len(rows)
        return rows

    def patched_publish(self, messages):
        current["publishing"] = time.time()
        results = publish(self, messages)
        current["confirmed"] = time.time()
        return results

    def patched_wait(self):
        started = time.monotonic()
        notify_wait(self)
        last_wait["timed_out"] = time.monotonic() - started >= 0.95 * self.seconds

    notify_wait = relay_module.NotifyWaiter.wait
    relay_module.NotifyWaiter.wait = patched_wait
    relay_module.Relay._relay_round, relay_module.Relay._claim = patched_round, patched_claim
    ConfirmingPublisher.publish = patched_publish
    return trace


def dump(trace: dict, path: str) -> None:
    Path(path).write_text(json.dumps(trace))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def breakdown(commits: dict[str, float], relay: dict, consumer: dict, consumer_committed: dict) -> list[str]:
    """Per-step latency table (ms) over the events traced at both ends."""
    rounds = relay["rounds"]
    steps: dict[str, list[float]] = {name: [] for name in (
        "commit -> relay round starts (wake-up, or the previous round)", "round start -> rows claimed",
        "claimed -> publishing", "publishing -> confirms in", "confirms in -> relay committed",
        "publishing -> consumer read the delivery", "delivery read -> its batch starts",
        "batch start -> consumer commit", "consumer commit -> acked", "total: commit -> consumer commit")}
    names = list(steps)
    sizes = []
    for event_id, committed in commits.items():
        r = relay["event_round"].get(event_id)
        if r is None or r >= len(rounds) or event_id not in consumer["received"] or event_id not in consumer_committed:
            continue
        rd = rounds[r]
        if "confirmed" not in rd:
            continue
        received, started = consumer["received"][event_id], consumer["batch_started"][event_id]
        values = [rd["start"] - committed, rd["claimed"] - rd["start"], rd["publishing"] - rd["claimed"],
                  rd["confirmed"] - rd["publishing"], rd["committed"] - rd["confirmed"],
                  received - rd["publishing"], started - received, consumer_committed[event_id] - started,
                  consumer["acked"][event_id] - consumer_committed[event_id], consumer_committed[event_id] - committed]
        for name, v in zip(names, values):
            steps[name].append(v)
        sizes.append(consumer["batch_size"][event_id])
    if not sizes:
        return ["(no event traced at both ends)"]
    lines = [f"timeline of {len(sizes)} events (ms; 'publishing -> confirms in' can exceed the consumer's "
             "read: the delivery does not wait for the confirm)",
             "| step | p50 | p90 | p99 |", "|---|---|---|---|"]
    for name, values in steps.items():
        lines.append(f"| {name} | {statistics.median(values) * 1e3:.1f} | {_pct(values, 90) * 1e3:.1f} | "
                     f"{_pct(values, 99) * 1e3:.1f} |")
    slowest = sorted((rd for rd in rounds if "confirmed" in rd), key=lambda rd: rd["start"] - rd["committed"])[:3]
    lines.append("slowest relay rounds (start UTC; rows; ms: claim, publish, confirms, mark + commit): " + "; ".join(
        f"{time.strftime('%H:%M:%S', time.gmtime(rd['start']))}.{int(rd['start'] % 1 * 1000):03d}; {rd['n']}; "
        f"{(rd['claimed'] - rd['start']) * 1e3:.1f}, {(rd['publishing'] - rd['claimed']) * 1e3:.1f}, "
        f"{(rd['confirmed'] - rd['publishing']) * 1e3:.1f}, {(rd['committed'] - rd['confirmed']) * 1e3:.1f}"
        for rd in slowest))
    polled = [rd for rd in rounds if rd.get("after_poll")]
    lines.append(f"relay rounds that found rows after a wait that ran out (poll, no NOTIFY came): {len(polled)} "
                 f"({sum(rd.get('n', 0) for rd in polled)} rows)")
    relay_sizes = [rd.get("n", 0) for rd in rounds]
    lines.append(f"relay rounds with rows: {len(rounds)}, rows per round p50 {statistics.median(relay_sizes):.0f}, "
                 f"rounds that found none: {relay.get('empty_rounds', '?')}; "
                 f"consumer batch size (per event) p50 {statistics.median(sizes):.0f}, max {max(sizes)}")
    return lines
