"""The HTTP side: a tiny JSON API on the standard library's threading HTTP server."""
from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mailcatcher.refusals import InvalidRule, Rule
from mailcatcher.store import Store

log = logging.getLogger(__name__)

_ONE = re.compile(r"^/messages/([A-Za-z0-9_-]{1,100})$")


def make_handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mailcatcher"

        def do_GET(self):
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if path == "/health/live":
                return self._json({"status": "ok"})
            if path == "/messages":
                return self._json([m.summary() for m in store.newest_first()])
            if path == "/refusals":
                return self._json(store.refusals.state())
            match = _ONE.match(path)
            if match:
                caught = store.get(match.group(1))
                if caught is not None:
                    return self._json(caught.detail())
            return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

        def do_POST(self):
            if self.path.split("?", 1)[0].rstrip("/") != "/refusals":
                return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= 64 * 1024:
                    raise InvalidRule("a JSON body of at most 64 KiB is required")
                rule = Rule.parse(json.loads(self.rfile.read(length)))
            except ValueError as exc:  # InvalidRule and json.JSONDecodeError are ValueErrors
                return self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
            return self._json(store.refusals.set(rule))

        def do_DELETE(self):
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/messages":
                store.clear()
                return self._json(None, HTTPStatus.NO_CONTENT)
            if path == "/refusals":
                return self._json(store.refusals.clear())
            return self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

        def _json(self, body, status: HTTPStatus = HTTPStatus.OK) -> None:
            data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # route access logs through logging, not stderr
            log.debug("%s " + fmt, self.address_string(), *args)

    return Handler


class HttpServer:
    """The API served from a background thread."""

    def __init__(self, store: Store, host: str, port: int):
        self.httpd = ThreadingHTTPServer((host, port), make_handler(store))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="mailcatcher-http", daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
