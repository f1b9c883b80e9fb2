"""Helpers of the fault tests: where the test service lives, and stopping/starting RabbitMQ.

(A uniquely named module, not conftest.py: several conftest modules exist in one pytest run.)"""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from servicekit.messaging.broker import close_quietly, connect
from servicekit.testing import wait_until

FAULTAPP = Path(__file__).with_name("faultapp.py")


def broker_accepts_connections(host: str = "127.0.0.1", port: int = 5672) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
        close_quietly(connect("amqp://guest:guest@127.0.0.1:5672//"))
        return True
    except Exception:
        return False


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def restore_broker() -> None:
    """Start the RabbitMQ app again and wait until it accepts AMQP connections."""
    rabbitmqctl("start_app")
    wait_until(broker_accepts_connections, timeout=90, interval=0.2, message="RabbitMQ did not come back")
