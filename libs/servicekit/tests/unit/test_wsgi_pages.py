"""servicekit.wsgi_pages: a Flask page's response reaches the ASGI server whole and in order,
the page's thread waits neither for the request body nor for the loop to take a message, a page
of one chunk is sent as two messages, and a streamed response is sent as it comes."""
import asyncio
import threading

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

    @app.get("/live")
    def live():
        def chunks():
            yield "premier;"
            yield "deuxième;"
            # Only a response sent as it comes lets the client see the first chunks by now.
            yield "reçus" if app.config["client_saw_first_chunk"].wait(5) else "pas reçus"

        return Response(chunks(), mimetype="text/plain")

    return app


async def _call(app, method, path, body=b"", parts=None, on_send=None):
    parts = parts or [body]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(sum(map(len, parts))).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": part, "more_body": n + 1 < len(parts)} for n, part in enumerate(parts)]
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)
        if on_send:
            on_send(message)

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
    assert waits == []  # neither the request body nor a response message


def _waits(monkeypatch) -> list:
    waits = []
    real = a2wsgi_module.asyncio.run_coroutine_threadsafe
    monkeypatch.setattr(a2wsgi_module.asyncio, "run_coroutine_threadsafe",
                        lambda *a, **k: waits.append(a) or real(*a, **k))
    return waits


def test_a_page_of_one_chunk_is_two_messages_sent_after_the_page_returns(monkeypatch):
    sent = asyncio.run(_call(WSGIPages(_pages()), "GET", "/page"))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1] == {"type": "http.response.body", "body": b"<p>Bonjour</p>", "more_body": False}


def test_a_form_body_is_received_on_the_loop_before_the_page_thread_starts(monkeypatch):
    waits = _waits(monkeypatch)
    sent = asyncio.run(_call(WSGIPages(_pages()), "POST", "/form", "mot=b%C3%A9b%C3%A9".encode()))
    assert b"".join(m.get("body", b"") for m in sent[1:]).decode() == "reçu bébé" and waits == []


def test_a_body_in_several_parts_is_read_whole(monkeypatch):
    waits = _waits(monkeypatch)
    sent = asyncio.run(_call(WSGIPages(_pages()), "POST", "/form", parts=[b"mot=pre", b"mier", b"%20pas"]))
    assert b"".join(m.get("body", b"") for m in sent[1:]).decode() == "reçu premier pas"
    assert len(waits) == 2  # the parts after the first are pulled by the page's thread, as a2wsgi does


def test_a_streamed_response_is_sent_as_it_comes():
    app = _pages()
    app.config["client_saw_first_chunk"] = seen = threading.Event()
    sent = asyncio.run(_call(WSGIPages(app), "GET", "/live",
                             on_send=lambda m: m.get("body") == b"premier;" and seen.set()))
    assert b"".join(m.get("body", b"") for m in sent[1:]).decode() == "premier;deuxième;reçus"
    assert sent[-1].get("more_body", False) is False


def test_a_posted_form_is_read(monkeypatch):
    sent = asyncio.run(_call(WSGIPages(_pages()), "POST", "/form", "mot=b%C3%A9b%C3%A9".encode()))
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]).decode() == "reçu bébé"


def test_pages_run_at_once_on_the_middlewares_own_threads():
    app = _pages()
    both_in = threading.Barrier(2, timeout=5)
    names = []

    @app.get("/together")
    def together():
        names.append(threading.current_thread().name)
        both_in.wait()  # only two pages running at the same time get past this
        return "ensemble"

    pages = WSGIPages(app, workers=2)

    async def two():
        return await asyncio.gather(_call(pages, "GET", "/together"), _call(pages, "GET", "/together"))

    for sent in asyncio.run(two()):
        assert sent[1]["body"] == b"ensemble"
    assert len(set(names)) == 2 and all(name.startswith("WSGI_") for name in names)
    asyncio.run(two())  # the same threads serve another loop's pages
    assert len(set(names)) == 2


def test_a_page_that_raises_raises_in_the_asgi_call():
    def broken(environ, start_response):
        raise LookupError("cassé")

    with pytest.raises(LookupError, match="cassé"):
        asyncio.run(_call(WSGIPages(broken), "GET", "/page"))
