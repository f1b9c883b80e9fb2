"""deploy/healthcheck.py, the container health checks, against real local sockets."""
from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"
spec = importlib.util.spec_from_file_location("ef_healthcheck", SCRIPT)
hc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hc)


@pytest.fixture
def http_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status = {"/ok": 200, "/unready": 503}.get(self.path, 404)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_ok_unready_missing_and_refused(http_server):
    assert hc.check_http(f"{http_server}/ok") is None
    assert "HTTP 503" in hc.check_http(f"{http_server}/unready")
    assert "HTTP 404" in hc.check_http(f"{http_server}/missing")
    assert hc.check_http(f"http://127.0.0.1:{free_port()}/ok") is not None


def test_command_line_exit_codes(http_server):
    ok = subprocess.run([sys.executable, str(SCRIPT), "http", f"{http_server}/ok"], capture_output=True, text=True)
    bad = subprocess.run([sys.executable, str(SCRIPT), "http", f"{http_server}/unready"], capture_output=True, text=True)
    usage = subprocess.run([sys.executable, str(SCRIPT), "nonsense"], capture_output=True, text=True)
    assert (ok.returncode, bad.returncode, usage.returncode) == (0, 1, 2)
    assert "unhealthy" in bad.stdout and "503" in bad.stdout


def smtp_like(greeting: bytes):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.sendall(greeting)
            conn.recv(64)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"127.0.0.1:{server.getsockname()[1]}"


def test_smtp_greeting():
    assert hc.check_smtp(smtp_like(b"220 mailcatcher ESMTP\r\n")) is None
    assert "unexpected greeting" in hc.check_smtp(smtp_like(b"554 go away\r\n"))
    assert hc.check_smtp(f"127.0.0.1:{free_port()}") is not None


def test_worker_needs_an_established_connection_to_the_broker_port(tmp_path):
    # /proc/net/tcp format: local and remote address as hex IP:port, state 01 = ESTABLISHED,
    # 0A = LISTEN. 0x1628 = 5672, 0x15B3 = 5555.
    table = tmp_path / "tcp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    established_to_5672 = "   0: 0100007F:D431 0100007F:1628 01 00000000:00000000 00:00000000 00000000 10001 0 1\n"
    listening_on_5555 = "   1: 00000000:15B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001 0 2\n"
    table.write_text(header + established_to_5672 + listening_on_5555)
    tables = (str(table), str(tmp_path / "absent-tcp6"))
    assert hc.check_worker("amqp://u:p@rabbitmq:5672/espace-famille", tables) is None
    assert "5671" in hc.check_worker("amqps://u:p@rabbitmq/espace-famille", tables)
    assert "5555" in hc.check_worker("amqp://u:p@rabbitmq:5555/", tables)  # listening is not connected
    assert hc.check_worker(None, tables) == "AMQP_URL is not set"


def test_worker_check_sees_a_real_connection():
    """With a real socket connected to a local listener, its port counts as established."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        assert port in hc.established_remote_ports()
        assert hc.check_worker(f"amqp://guest:guest@127.0.0.1:{port}/") is None
    finally:
        client.close()
        server.close()
