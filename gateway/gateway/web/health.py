"""Health: the gateway's own liveness/readiness and metrics, and the platform's readiness.

- `/health/live`: the process answers.
- `/health/ready`: the gateway can serve (its own database answers). It does not depend on
  the other services: a service outage must not take the gateway out of rotation.
- `/health`: every service's `/health/ready`, asked in parallel with a short timeout; 200
  when all are ready, 503 otherwise, with each service's answer (for operators).
- `/metrics`: Prometheus (HTTP metrics recorded by servicekit's request hooks).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from servicekit import metrics

from gateway import clients
from gateway.settings import SERVICES

bp = Blueprint("health", __name__)

PROBE_TIMEOUT = (1.0, 2.0)
_executor = ThreadPoolExecutor(max_workers=len(SERVICES), thread_name_prefix="health")


def _probe_session():
    return clients.pooled_session("health", retries=False, pool_size=len(SERVICES))


def probe(service: str, base_url: str) -> dict:
    started = time.perf_counter()
    try:
        resp = _probe_session().get(f"{base_url}/health/ready", timeout=PROBE_TIMEOUT)
        result: dict = {"ready": resp.status_code == 200, "status_code": resp.status_code}
        try:
            body = resp.json()
            if isinstance(body, dict) and "checks" in body:
                result["checks"] = body["checks"]
        except ValueError:
            pass
    except clients.http.RequestException as exc:
        result = {"ready": False, "error": f"{type(exc).__name__}"}
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


@bp.get("/health")
def platform_health():
    settings = current_app.config["SERVICE_SETTINGS"]
    futures = {name: _executor.submit(probe, name, settings.service_url(name)) for name in SERVICES}
    services = {name: future.result() for name, future in futures.items()}
    ok = all(s["ready"] for s in services.values())
    return jsonify(status="ok" if ok else "unavailable", services=services), (200 if ok else 503)


@bp.get("/health/live")
def live():
    return jsonify(status="ok", service="gateway")


@bp.get("/health/ready")
def ready():
    db = current_app.config["SERVICE_DB"]
    try:
        db.ping()
        checks = {"database": {"ok": True}}
    except Exception as exc:  # any failure means "not ready"
        checks = {"database": {"ok": False, "error": f"{type(exc).__name__}: {exc}"}}
    ok = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if ok else "unavailable", service="gateway", checks=checks), (200 if ok else 503)


@bp.get("/metrics")
def prometheus():
    return Response(generate_latest(metrics._registry()), mimetype=CONTENT_TYPE_LATEST)
