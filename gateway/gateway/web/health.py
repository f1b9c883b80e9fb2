"""Health: the gateway's own liveness/readiness and metrics, and the platform's readiness.

- `/health/live`: the process answers.
- `/health/ready`: the gateway can serve (its own database answers). It does not depend on
  the other services: a service outage must not take the gateway out of rotation.
- `/health`: every service's `/health/ready`, asked in parallel with a short timeout; 200
  when all are ready, 503 otherwise.
- `/metrics`: Prometheus (HTTP metrics recorded by servicekit's request hooks).

These paths are public through the ingress. The public gets a plain status only; operators
(`Authorization: Bearer <OPERATOR_TOKEN>`) also get the details: each check and service, error
texts (which name hosts and users), and the metrics. Without OPERATOR_TOKEN set, nobody does.
The operator's header is passed on to the services' readiness probes, for their own details.
"""
from __future__ import annotations

import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from servicekit import metrics

from gateway import clients
from gateway.settings import SERVICES

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

PROBE_TIMEOUT = (1.0, 2.0)
_executor = ThreadPoolExecutor(max_workers=len(SERVICES), thread_name_prefix="health")


def is_operator() -> bool:
    """The caller presents the operator token (constant-time comparison)."""
    expected = current_app.config["SERVICE_SETTINGS"].operator_token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())


def _probe_session():
    return clients.pooled_session("health", retries=False, pool_size=len(SERVICES))


def probe(service: str, base_url: str, headers: dict | None = None) -> dict:
    started = time.perf_counter()
    try:
        resp = _probe_session().get(f"{base_url}/health/ready", timeout=PROBE_TIMEOUT, headers=headers)
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
    operator = is_operator()
    headers = {"Authorization": request.headers["Authorization"]} if operator else None
    futures = {name: _executor.submit(probe, name, settings.service_url(name), headers) for name in SERVICES}
    services = {name: future.result() for name, future in futures.items()}
    ok = all(s["ready"] for s in services.values())
    body = {"status": "ok" if ok else "unavailable"}
    if operator:
        body["services"] = services
    return jsonify(body), (200 if ok else 503)


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
        log.warning("gateway database not ready: %s: %s", type(exc).__name__, exc)
        checks = {"database": {"ok": False, "error": f"{type(exc).__name__}: {exc}"}}
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ok else "unavailable", "service": "gateway"}
    if is_operator():
        body["checks"] = checks
    return jsonify(body), (200 if ok else 503)


@bp.get("/metrics")
def prometheus():
    if not is_operator():
        return Response("Réservé aux opérateurs de la plateforme.\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="operators"'})
    return Response(generate_latest(metrics._registry()), mimetype=CONTENT_TYPE_LATEST)
