"""The public API's pooled connections are closed when the worker shuts down (ASGI lifespan),
so a restarted worker leaves no connection to the services behind."""
import asyncio

from gateway import api_clients


def test_lifespan_shutdown_closes_the_pooled_connections(gateway_app):
    sent = []

    async def run():
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            await reader.read()  # until the gateway closes its side
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        pool = api_clients._pool(base)
        await pool.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # what a first call leaves: one idle connection
        idle = list(pool.idle)
        queue: asyncio.Queue = asyncio.Queue()
        await queue.put({"type": "lifespan.startup"})

        async def receive():
            return await queue.get()

        async def send(message):
            sent.append(message["type"])
            if message["type"] == "lifespan.startup.complete":
                await queue.put({"type": "lifespan.shutdown"})

        await asyncio.wait_for(gateway_app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                           receive, send), 10)
        server.close()
        return idle

    idle = asyncio.run(run())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert len(idle) == 1 and idle[0].transport.is_closing() and api_clients._pools == {}
