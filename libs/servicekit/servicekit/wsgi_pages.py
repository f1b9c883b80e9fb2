"""Flask pages served from the ASGI app: a2wsgi, without a wait on the event loop per message.

a2wsgi runs the WSGI app in a thread pool and hands each response message (the status and
headers, every body chunk, the end) to the event loop with `run_coroutine_threadsafe(...)
.result()`: the page's thread stops three times per response until the loop has taken the
message. Under load that is three sleeps and wake-ups of the thread and of the loop, each
fighting for the GIL (the booking rush through the gateway: a sixth of the gateway workers'
samples in `run_coroutine_threadsafe`). Here the thread queues each message on the loop
(`call_soon_threadsafe`, in order) and goes on; the loop sends them as before. The queue is
unbounded: a page's body is produced in memory anyway (templates, proxied PDFs).
"""
from __future__ import annotations

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import WSGIResponder


class _Responder(WSGIResponder):
    def __init__(self, app, executor, _send_queue_size):
        super().__init__(app, executor, 0)  # 0: an unbounded queue, put_nowait never refuses

    def send(self, message) -> None:
        # After the app returns, a2wsgi puts its end marker from the loop: the thread's messages,
        # scheduled before the executor's completion, are queued before it.
        self.loop.call_soon_threadsafe(self.send_queue.put_nowait, message)


class WSGIPages(WSGIMiddleware):
    """`a2wsgi.WSGIMiddleware` whose page threads do not wait for the loop to take each message."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            return await _Responder(self.app, self.executor, self.send_queue_size)(scope, receive, send)
        return await super().__call__(scope, receive, send)
