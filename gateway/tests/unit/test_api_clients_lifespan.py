"""The public API's pooled aiohttp sessions are closed when the worker shuts down (ASGI lifespan),
so a restarted worker leaves no connection to the services behind."""
import asyncio

from gateway import api_clients


def test_lifespan_shutdown_closes_the_pooled_sessions(gateway_app):
    sent = []

    async def run():
        session = api_clients._session()  # what the first call to a service makes
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
        return session

    session = asyncio.run(run())
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert session.closed and api_clients._sessions == {}
