"""servicekit.wsgi_pages: a Flask page's response reaches the ASGI server whole and in order,
and the page's thread never waits for the event loop to take a message."""
import asyncio

import pytest
from a2wsgi import wsgi as a2wsgi_module
from flask import Flask, Response, stream_with_context

from servicekit.wsgi_pages import WSGIPages


def _pages() -> Flask:
    app = Flask(__name__)

    @app.get("/page")
    def page():
        return "<p>Bonjour</p>"

    @app.get("/stream")
    def stream():
        return Response(stream_with_context(f"morceau {n};" for n in range(200)), mimetype="text/plain")

    @app.post("/form")
    def form():
        from flask import request
        return f"reçu {request.form['mot']}"

    return app


async def _call(app, method, path, body=b""):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("path, expected", [("/page", "<p>Bonjour</p>"),
                                            ("/stream", "".join(f"morceau {n};" for n in range(200)))])
def test_the_response_arrives_whole_and_in_order_without_the_thread_waiting(monkeypatch, path, expected):
    waits = []
    real = a2wsgi_module.asyncio.run_coroutine_threadsafe
    monkeypatch.setattr(a2wsgi_module.asyncio, "run_coroutine_threadsafe",
                        lambda *a, **k: waits.append(a) or real(*a, **k))
    sent = asyncio.run(_call(WSGIPages(_pages()), "GET", path))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]).decode() == expected
    assert sent[-1].get("more_body", False) is False
    assert len(waits) <= 1  # the request body read (a2wsgi's Body) at most; no response message


def test_a_posted_form_is_read(monkeypatch):
    sent = asyncio.run(_call(WSGIPages(_pages()), "POST", "/form", "mot=b%C3%A9b%C3%A9".encode()))
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]).decode() == "reçu bébé"
