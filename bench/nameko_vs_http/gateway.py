"""A Flask "gateway" with three endpoints answering the same question three ways.

- GET /direct  computes the answer in-process (the floor: Flask + gunicorn alone);
- GET /http    asks http_service.py over HTTP with a pooled `requests.Session` (one per
               thread, keep-alive), as our gateway does;
- GET /nameko  asks nameko_service.py through nameko RPC, with a pool of started
               `ClusterRpcProxy` instances (one borrowed per request; a proxy is not
               thread-safe), the pattern of flask_nameko's FlaskPooledClusterRpcProxy.

Environment: SERVICE_URL (http service base), AMQP_URI, NAMEKO_SERVICE_NAME, RPC_TIMEOUT.
Served by gunicorn with gthread workers (see run_bench.py).
"""
from __future__ import annotations

import os
import queue
import threading

import requests
from flask import Flask, jsonify, request
from nameko.standalone.rpc import ClusterRpcProxy

SERVICE_URL = os.environ.get("SERVICE_URL", "http://127.0.0.1:18101")
AMQP_URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
NAMEKO_SERVICE_NAME = os.environ.get("NAMEKO_SERVICE_NAME", "echo")
TIMEOUT = float(os.environ.get("RPC_TIMEOUT", "5"))

app = Flask(__name__)
_local = threading.local()
_proxies: queue.LifoQueue = queue.LifoQueue()


def pong(value: str) -> dict:
    return {"pong": value}


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _borrow_proxy():
    """A started ClusterRpcProxy from the pool; created on first need (after fork)."""
    try:
        return _proxies.get_nowait()
    except queue.Empty:
        return ClusterRpcProxy({"AMQP_URI": AMQP_URI}, timeout=TIMEOUT).start()


@app.get("/direct")
def direct():
    return jsonify(pong(request.args.get("value", "x")))


@app.get("/http")
def via_http():
    resp = _session().get(f"{SERVICE_URL}/ping", params={"value": request.args.get("value", "x")},
                          timeout=TIMEOUT)
    resp.raise_for_status()
    return jsonify(resp.json())


@app.get("/nameko")
def via_nameko():
    proxy = _borrow_proxy()
    # If the call raises, the proxy (in an unknown state) is dropped, not returned to the pool.
    result = getattr(proxy, NAMEKO_SERVICE_NAME).ping(request.args.get("value", "x"))
    _proxies.put(proxy)
    return jsonify(result)
