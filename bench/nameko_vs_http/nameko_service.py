"""The trivial service behind nameko RPC: `ping(value)` returns {"pong": value}.

Started by run_bench.py with `nameko run nameko_service --broker <amqp uri>` (nameko's CLI
monkey-patches with eventlet). The service name comes from NAMEKO_SERVICE_NAME so that each
run uses its own RPC queue ("rpc-<name>") on a shared broker.
"""
import os

from nameko.rpc import rpc


def pong(value: str) -> dict:
    return {"pong": value}


class EchoService:
    name = os.environ.get("NAMEKO_SERVICE_NAME", "echo")

    @rpc
    def ping(self, value):
        return pong(value)
