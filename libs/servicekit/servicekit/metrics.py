"""Prometheus metrics: HTTP requests of the web process; outbox state and broker reachability
read at scrape time (what readiness deliberately ignores is watched here: deploy/prometheus).

With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (an empty directory per service) so
that `/metrics` aggregates all workers.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess, REGISTRY)

from servicekit.db import Database

if TYPE_CHECKING:
    from servicekit.health import BrokerProbe

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"])
HTTP_LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["service", "method", "endpoint"])
OUTBOX_PENDING = Gauge("outbox_pending_events", "Events written but not yet published", ["service"],
                       multiprocess_mode="livemax")
OUTBOX_OLDEST = Gauge("outbox_oldest_pending_age_seconds", "Age of the oldest unpublished event", ["service"],
                      multiprocess_mode="livemax")
OUTBOX_PARKED = Gauge("outbox_parked_events", "Events the relay parked (wait for an operator's replay)", ["service"],
                      multiprocess_mode="livemax")
BROKER_REACHABLE = Gauge("broker_reachable", "1 when RabbitMQ accepted a connection at scrape time, else 0",
                         ["service"], multiprocess_mode="livemin")


# The labelled children of the two request metrics, by (service, method, endpoint, status): the
# labels are bounded, and `labels()` takes a lock and builds its key on every call.
_REQUEST_CHILDREN: dict[tuple, tuple] = {}


def observe(service: str, method: str, endpoint: str, status: int, seconds: float) -> None:
    """One served request; `endpoint` must be a bounded label (operationId or route rule)."""
    key = (service, method, endpoint, status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        children = _REQUEST_CHILDREN[key] = (HTTP_REQUESTS.labels(service, method, endpoint, str(status)),
                                             HTTP_LATENCY.labels(service, method, endpoint))
    children[0].inc()
    children[1].observe(seconds)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render(service: str, db: Database, broker: BrokerProbe | None = None) -> bytes:
    """The scrape body: request metrics plus the outbox state (and, given a probe, whether the
    broker is reachable) read now."""
    from servicekit.health import outbox_lag

    try:
        lag = outbox_lag(db)
        OUTBOX_PENDING.labels(service).set(lag["pending"])
        OUTBOX_OLDEST.labels(service).set(lag["oldest_age_seconds"])
        OUTBOX_PARKED.labels(service).set(lag["parked"])
    except Exception:  # the database being down must not hide the other metrics
        pass
    if broker is not None:
        BROKER_REACHABLE.labels(service).set(1 if broker.check()[0] else 0)
    return generate_latest(_registry())
