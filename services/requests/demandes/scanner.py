"""ClamAV's clamd, asked over its INSTREAM protocol (a Unix socket or TCP).

Why not a library: the `clamd` package has not been released since 2014; the protocol is a
handful of lines (https://docs.clamav.net/manual/Usage/Scanning.html#clamd): "zINSTREAM\\0",
then chunks each prefixed by their length (4 bytes, network order), a zero-length chunk, and
one answer: "stream: OK", "stream: <signature> FOUND" or "... ERROR".

A scanner that is configured but does not answer refuses the upload (ScannerUnavailable): a
file that could not be checked is never kept.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

CHUNK = 64 * 1024


class ScannerUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str | None = None


@dataclass(frozen=True)
class Clamd:
    socket_path: str | None = None
    host: str | None = None
    port: int = 3310
    timeout: float = 30.0

    def _connect(self) -> socket.socket:
        if self.socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = self.socket_path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (self.host, self.port)
        sock.settimeout(self.timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock

    def scan(self, content: bytes) -> Verdict:
        try:
            with self._connect() as sock:
                sock.sendall(b"zINSTREAM\0")
                for start in range(0, len(content), CHUNK):
                    chunk = content[start:start + CHUNK]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
                answer = _read_answer(sock)
        except OSError as exc:
            raise ScannerUnavailable(str(exc)) from exc
        return parse_answer(answer)

    def ping(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return _read_answer(sock) == "PONG"
        except OSError:
            return False


def _read_answer(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > 64 * 1024:
            break
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def parse_answer(answer: str) -> Verdict:
    """"stream: OK" -> clean; "stream: Name FOUND" -> infected; anything else: no verdict."""
    body = answer.split(":", 1)[1].strip() if answer.startswith("stream:") else answer
    if body == "OK":
        return Verdict(True)
    if body.endswith(" FOUND"):
        return Verdict(False, body[: -len(" FOUND")].strip())
    raise ScannerUnavailable(f"unexpected clamd answer: {answer[:200]!r}")


def from_settings(settings) -> Clamd | None:
    if not settings.scanner_configured:
        return None
    return Clamd(socket_path=settings.requests_clamd_socket, host=settings.requests_clamd_host,
                 port=settings.requests_clamd_port, timeout=settings.requests_clamd_timeout_seconds)
