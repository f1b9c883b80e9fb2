"""gateway.api_clients' HTTP/1.1 exchange with the services (asyncio + httptools): keep-alive
reuse, every way a response's end is told (length, chunks, the connection's close), a service
that closed an idle connection, the retry of idempotent methods only, timeouts, and what the
gateway sends (service token, correlation id, JSON body). A scripted server answers with raw
bytes, so each case is exactly the bytes a service could send."""
import asyncio
import json

import pytest

from servicekit import context, tokens

from gateway import api_clients, clients

SECRET = "s" * 32
CALLER = tokens.Caller(sub="gateway", role=tokens.ANONYMOUS, name="anonymous")
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"items\": []}"


class Script:
    """A service on a local port: for each request received, the next of `answers` (bytes to
    write, then "close" to close the connection, or "hang" to never answer)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.base = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await api_clients.close_all()

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + (await reader.readexactly(length) if length else b""))
                answer = self.answers.pop(0)
                for part in answer if isinstance(answer, tuple) else (answer,):
                    if part == "close":
                        writer.close()
                        return
                    if part == "hang":
                        await asyncio.sleep(3600)
                    writer.write(part)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def call(self, method="GET", path="/internal/communes", **kwargs):
        return await api_clients.call("identity", method, path, caller=CALLER, secret=SECRET, base_url=self.base,
                                      **kwargs)


def run(coro):
    return asyncio.run(coro)


def test_a_kept_alive_connection_serves_the_next_calls():
    async def scenario():
        async with Script(OK, OK, OK) as service:
            replies = [await service.call() for _ in range(3)]
            return service, replies

    service, replies = run(scenario())
    assert [(r.status, r.content_type, r.body) for r in replies] == [(200, "application/json", b'{"items": []}')] * 3
    assert service.connections == 1


def test_what_the_gateway_sends():
    async def scenario():
        async with Script(OK, OK) as service:
            token = context.set_correlation_id("cid-123")
            try:
                await service.call()
                await service.call("POST", "/internal/things", json={"name": "Léa"})
            finally:
                context.reset_correlation_id(token)
            return service

    get, post = run(scenario()).requests
    head = get.decode().split("\r\n")
    assert head[0] == "GET /internal/communes HTTP/1.1" and head[1].startswith("Host: 127.0.0.1:")
    assert "X-Correlation-ID: cid-123" in head and "Accept: application/json" in head
    bearer = next(line for line in head if line.startswith("Authorization: Bearer "))
    assert tokens.verify(bearer.split()[-1], "identity", SECRET).role == tokens.ANONYMOUS
    assert not any(line.lower().startswith("content-length") for line in head)
    post_head, post_body = post.split(b"\r\n\r\n", 1)
    assert b"Content-Type: application/json" in post_head and json.loads(post_body) == {"name": "Léa"}


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\n{\"ite\r\n8\r\nms\": []}\r\n0\r\n\r\n",
    (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"items\": []}", "close"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"ite", b"ms\": []}"),
], ids=["chunked", "until-close", "in-two-segments"])
def test_every_way_a_body_ends(answer):
    async def scenario():
        async with Script(answer) as service:
            return await service.call()

    assert run(scenario()).body == b'{"items": []}'


def test_a_body_cut_short_is_the_service_unavailable():
    cut = (b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"it", "close")

    async def scenario():
        async with Script(cut, cut) as service:  # the GET is tried twice
            with pytest.raises(clients.ServiceUnavailable):
                await service.call()

    run(scenario())


def test_a_connection_the_service_closed_while_idle_is_not_reused():
    async def scenario():
        async with Script((OK, "close"), OK) as service:
            await service.call()
            await asyncio.sleep(0)  # the service's close reaches the gateway's loop
            await asyncio.sleep(0.01)
            reply = await service.call()
            return service, reply

    service, reply = run(scenario())
    assert reply.status == 200 and service.connections == 2


def test_an_idempotent_call_is_tried_again_once_a_post_is_not():
    async def scenario():
        async with Script("close", OK) as service:
            get = await service.call()  # the first connection breaks: the GET goes again
        async with Script("close", OK) as service:
            with pytest.raises(clients.ServiceUnavailable):
                await service.call("POST", "/internal/things", json={})
            return get, len(service.requests)

    get, posts = run(scenario())
    assert get.status == 200 and posts == 1


def test_a_503_is_tried_again_then_translated():
    busy = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"

    async def scenario():
        async with Script(busy, OK) as service:
            first = await service.call()
        async with Script(busy, busy) as service:
            with pytest.raises(clients.ServiceUnavailable):
                await service.call()
        return first

    assert run(scenario()).status == 200


def test_a_refusal_is_translated_by_the_gateways_table():
    problem = json.dumps({"status": 404, "detail": "Cette commune est introuvable."}).encode()
    answer = (b"HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\nContent-Length: "
              + str(len(problem)).encode() + b"\r\n\r\n" + problem)

    async def scenario():
        async with Script(answer, OK) as service:
            with pytest.raises(clients.ServiceError) as raised:
                await service.call()
            after = await service.call()  # the connection stays usable after a refusal
            return raised.value, after, service.connections

    error, after, connections = run(scenario())
    assert error.status == 404 and "introuvable" in error.detail
    assert after.status == 200 and connections == 1


def test_a_service_that_does_not_answer_is_unavailable_after_the_timeout(monkeypatch):
    monkeypatch.setattr(api_clients, "TOTAL_TIMEOUT", 0.05)

    async def scenario():
        async with Script("hang", "hang") as service:
            with pytest.raises(clients.ServiceUnavailable):
                await service.call()

    run(scenario())


def test_a_service_that_is_down_is_unavailable():
    async def scenario():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(clients.ServiceUnavailable):
            await api_clients.call("identity", "GET", "/internal/communes", caller=CALLER, secret=SECRET,
                                   base_url=f"http://127.0.0.1:{port}")
        await api_clients.close_all()

    run(scenario())


def test_garbage_instead_of_http_is_the_service_unavailable():
    async def scenario():
        async with Script((b"SSH-2.0-OpenSSH\r\n\r\n", "close"), (b"nope\r\n\r\n", "close")) as service:
            with pytest.raises(clients.ServiceUnavailable):
                await service.call()

    run(scenario())


def test_a_line_break_in_a_header_is_refused_not_sent():
    async def scenario():
        async with Script(OK) as service:
            with pytest.raises(ValueError):
                await service.call(headers={"Idempotency-Key": "a\r\nX-Evil: 1"})
            return service.requests

    assert run(scenario()) == []



def test_each_event_loop_has_its_own_connections():
    """A pool's connections belong to the loop that opened them: a later loop (a test's, a
    restarted worker's) opens its own rather than writing on a dead loop's transport."""
    import socketserver
    import threading

    connections = []

    class Answer(socketserver.StreamRequestHandler):
        def handle(self):
            connections.append(self.client_address)
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    chunk = self.rfile.readline()
                    if not chunk:
                        return
                    head += chunk
                self.wfile.write(OK)

    async def one_call(base):
        return await api_clients.call("identity", "GET", "/internal/communes", caller=CALLER, secret=SECRET,
                                      base_url=base)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Answer) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            first = asyncio.run(one_call(base))  # its loop ends with its connection left in the pool
            second = asyncio.run(one_call(base))  # another loop: a connection of its own
        finally:
            server.shutdown()
            asyncio.run(api_clients.close_all())
    assert first.status == second.status == 200 and len(connections) == 2


def test_a_connection_that_sent_more_than_its_answer_is_not_reused():
    async def scenario():
        async with Script(OK + b"HTTP/1.1 200 OK\r\nnonsense", OK) as service:
            first = await service.call()
            second = await service.call("POST", "/internal/things", json={})  # not retried: must not meet it
            return first, second, service.connections

    first, second, connections = run(scenario())
    assert first.status == second.status == 200 and connections == 2
