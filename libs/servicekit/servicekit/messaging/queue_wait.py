"""`python -m <service> wait-queues`: wait until every consumer queue of the platform exists.

Each service's `migrate` declares its own consumer queues (cli.declare_queues). A topic exchange
routes an event only to the queues bound when it is published, so no worker may publish before
every consumer's queues exist. docker-compose orders this with `depends_on`; Kubernetes cannot
order a Deployment after Jobs, so each worker's initContainer runs this command, which checks
the queues named in EF_PLATFORM_QUEUES (passive declarations: nothing is created) until all
exist or the timeout passes (exit 1: the kubelet runs the initContainer again).
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable

import amqp

from servicekit.messaging.broker import BROKER_ERRORS, close_quietly, connect

ENV = "EF_PLATFORM_QUEUES"


def queue_names(text: str | None) -> list[str]:
    """Names separated by commas, spaces or new lines."""
    return [name for name in re.split(r"[\s,]+", text or "") if name]


def missing_queues(amqp_url: str, names: Iterable[str]) -> list[str]:
    """The queues among `names` that do not exist on the broker."""
    conn = connect(amqp_url)
    try:
        missing = []
        for name in names:
            channel = conn.channel()
            try:
                channel.queue_declare(name, passive=True)
            except amqp.exceptions.NotFound:  # the broker closes the channel: a new one for the next
                missing.append(name)
                continue
            channel.close()
        return missing
    finally:
        close_quietly(conn)


def wait_for_queues(amqp_url: str, names: list[str], timeout: float, interval: float = 2.0,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Check until every queue exists or `timeout` seconds passed; the queues still missing."""
    deadline = clock() + timeout
    while True:
        try:
            missing = missing_queues(amqp_url, names)
        except BROKER_ERRORS as exc:
            print(f"wait-queues: the broker did not answer ({type(exc).__name__}: {exc})", file=sys.stderr)
            missing = list(names)
        if not missing or clock() >= deadline:
            return missing
        sleep(interval)


def main(amqp_url: str, text: str | None, timeout: float) -> int:
    names = queue_names(text)
    if not names:
        print(f"wait-queues: {ENV} names no queue", file=sys.stderr)
        return 2
    missing = wait_for_queues(amqp_url, names, timeout)
    if missing:
        print(f"wait-queues: {len(missing)} of {len(names)} consumer queue(s) still missing after {timeout:.0f}s "
              f"(has every service's migrate run?): {', '.join(missing[:10])}", file=sys.stderr)
        return 1
    print(f"wait-queues: the {len(names)} consumer queue(s) of the platform exist")
    return 0
