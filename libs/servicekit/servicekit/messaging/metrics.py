"""Prometheus metrics of the relay and the consumers.

They live in the worker process. With PROMETHEUS_MULTIPROC_DIR shared by the web and worker
processes of a service, the web process's `/metrics` exposes them too.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_PUBLISHED = Counter(
    "events_published_total", "Outbox events published and confirmed by the broker", ["service", "event_type"])
PUBLISH_FAILURES = Counter(
    "event_publish_failures_total",
    "Outbox events the broker did not take (unroutable, nacked); retried, then parked after OUTBOX_MAX_ATTEMPTS",
    ["service", "reason"])
EVENTS_PARKED = Counter(
    "outbox_events_parked_total", "Outbox events parked after OUTBOX_MAX_ATTEMPTS refusals (wait for an operator)",
    ["service", "reason"])
RELAY_ERRORS = Counter(
    "outbox_relay_errors_total", "Relay rounds aborted by a broker or database error", ["service", "kind"])
EVENTS_CONSUMED = Counter(
    "events_consumed_total", "Messages taken from consumer queues, by outcome (ok/duplicate/retried/dead)",
    ["service", "consumer", "outcome"])
HANDLER_DURATION = Histogram(
    "event_handler_duration_seconds", "Time spent in one handler call (the batch's inbox claim and commit are not included)",
    ["service", "consumer"])
JOB_RUNS = Counter("scheduled_job_runs_total", "Scheduled job runs by outcome (ok/failed/skipped)",
                   ["service", "job", "outcome"])
