"""Prometheus metrics: HTTP requests of the web process, outbox state at scrape time.

With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (an empty directory per service) so
that `/metrics` aggregates all workers.
"""
from __future__ import annotations

import os

from flask import Flask, Request, Response
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess, REGISTRY)

from servicekit.db import Database

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"])
HTTP_LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["service", "method", "endpoint"])
OUTBOX_PENDING = Gauge("outbox_pending_events", "Events written but not yet published", ["service"],
                       multiprocess_mode="livemax")
OUTBOX_OLDEST = Gauge("outbox_oldest_pending_age_seconds", "Age of the oldest unpublished event", ["service"],
                      multiprocess_mode="livemax")


def observe_request(service: str, request: Request, response: Response, seconds: float) -> None:
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    HTTP_REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
    HTTP_LATENCY.labels(service, request.method, endpoint).observe(seconds)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def install(flask_app: Flask, service: str, db: Database) -> None:
    from servicekit.health import outbox_lag

    @flask_app.get("/metrics")
    def metrics():
        try:
            lag = outbox_lag(db)
            OUTBOX_PENDING.labels(service).set(lag["pending"])
            OUTBOX_OLDEST.labels(service).set(lag["oldest_age_seconds"])
        except Exception:  # the database being down must not hide the other metrics
            pass
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
