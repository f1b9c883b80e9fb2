"""Moving a process's long-lived objects out of the garbage collector's reach, once, after start.

A web worker's built app (the OpenAPI specs, connexion's operations, Flask, SQLAlchemy's
metadata: ~150,000 objects in the gateway) and an event worker's modules, compiled statements and
pydantic schemas live as long as the process. Left in the collector's generations, every
oldest-generation collection walks them all again while requests or events flow: ~115 ms of CPU
every few thousand requests in a gateway worker (~40 µs a request, ADR 0007), and 0.1-2 s pauses
of every thread of an event worker under load (ADR 0012). Collected once then frozen, they are
never walked again; objects made later are collected as before.
"""
from __future__ import annotations

import gc


def freeze_what_is_alive() -> None:
    """Collect once (what start-up left as garbage goes), then freeze everything still alive."""
    gc.collect()
    gc.freeze()
