"""Flask pages served from the ASGI app: a2wsgi, with as few hops between the loop and the page's thread.

a2wsgi runs the WSGI app in a thread pool; the thread pulls the request body from the loop
(`run_coroutine_threadsafe(receive()).result()`) and hands each response message (the status and
headers, every body chunk, the end) to the loop with `run_coroutine_threadsafe(...).result()`:
the page's thread stops four times per form POST until the loop has answered, each a wake-up of
the thread and of the loop fighting for the GIL (the booking rush through the gateway: a sixth
of the gateway workers' samples in `run_coroutine_threadsafe`). Here:

- the body's first part (all of a form's body, usually) is received on the loop before the
  thread starts; the rest, if any (a large upload), is pulled by the thread as before;
- the thread holds the response's messages and the loop sends them once the page returns: a page
  of one chunk (templates, redirects) costs no hop beyond the thread pool's own completion, and
  its last chunk carries the end of the body (one ASGI message fewer);
- a streamed response (a proxied PDF) is sent as it comes: from its second chunk on, the held
  messages go to the loop (`call_soon_threadsafe`, in order, never waiting) and a sender task
  forwards them;
- the page runs on one of the middleware's own threads (as many as a2wsgi's pool, all started
  with the first request), handed over through one queue, and tells the loop it is done with one
  `call_soon_threadsafe`: `run_in_executor` made a concurrent future, chained it to an asyncio
  future and took a semaphore and a condition per page (about a fifth of the gateway loop's
  CPU in the booking rush).
"""
from __future__ import annotations

import asyncio
import contextvars
import queue
import threading

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import Body, WSGIResponder, build_environ


class _Body(Body):
    """a2wsgi's request body, its first message already received on the loop."""

    def __init__(self, loop, receive, first: dict):
        super().__init__(loop, receive)
        if first.get("type") == "http.request":
            self.buffer.extend(first.get("body", b""))
            self._has_more = bool(first.get("more_body", False))
        else:  # http.disconnect: no body will come
            self._has_more = False


def _is_chunk(message: dict) -> bool:
    return message["type"] == "http.response.body" and message.get("more_body", False)


class _Responder(WSGIResponder):
    def __init__(self, app, executor, _send_queue_size):
        # a2wsgi's attributes, but the send queue: made only for a streamed response (_stream).
        self.app = app
        self.executor = executor
        self.loop = asyncio.get_running_loop()
        self.response_started = False
        self.exc_info = None
        self.send_queue: asyncio.Queue | None = None
        self._held: list[dict] = []  # the page thread's messages not yet given to the loop
        self._sender: asyncio.Task | None = None
        self._send = None

    async def __call__(self, scope, receive, send) -> None:
        self._send = send
        environ = build_environ(scope, _Body(self.loop, receive, await receive()))
        done = self.loop.create_future()
        try:
            self.executor.submit(self.loop, done, contextvars.copy_context(), self.wsgi, environ, self.start_response)
            await done
            rest = _ended(self._held)
            self._held = []
            if self._sender is None:
                for message in rest:
                    await send(message)
            else:
                for message in rest:
                    self.send_queue.put_nowait(message)
                self.send_queue.put_nowait(None)
                await self._sender  # it may raise what send raised
            if self.exc_info is not None:
                raise self.exc_info[0].with_traceback(self.exc_info[1], self.exc_info[2])
        finally:
            if self._sender is not None and not self._sender.done():
                self._sender.cancel()  # pragma: no cover

    def send(self, message) -> None:
        """The page's thread: hold the message; from a response's second chunk on, stream."""
        self._held.append(message)
        if _is_chunk(message) and sum(1 for m in self._held if _is_chunk(m)) > 1:
            batch, self._held = self._held, []
            # Scheduled before the executor's completion: the loop queues it before the rest.
            self.loop.call_soon_threadsafe(self._stream, batch)

    def _stream(self, batch: list[dict]) -> None:
        """On the loop: queue a streamed response's messages for the sender task (started once)."""
        if self._sender is None:
            self.send_queue = asyncio.Queue()  # unbounded: put_nowait never refuses
            self._sender = self.loop.create_task(self.sender(self._send))
        for message in batch:
            self.send_queue.put_nowait(message)


def _ended(messages: list[dict]) -> list[dict]:
    """The last chunk carries the end of the body when a2wsgi's empty end message follows it."""
    if (len(messages) >= 2 and _is_chunk(messages[-2]) and messages[-1]["type"] == "http.response.body"
            and not messages[-1].get("body") and not messages[-1].get("more_body", False)):
        return [*messages[:-2], {**messages[-2], "more_body": False}]
    return messages


class _Threads:
    """The page threads: `workers` daemon threads taking pages from one queue, started together
    with the first page. Each page's outcome is given to its future on its loop."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pages: queue.SimpleQueue = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def submit(self, loop, done: asyncio.Future, context: contextvars.Context, fn, *args) -> None:
        if not self._started:
            self._start()
        self._pages.put((loop, done, context, fn, args))

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                for n in range(self.workers):
                    threading.Thread(target=self._work, name=f"WSGI_{n}", daemon=True).start()
                self._started = True

    def _work(self) -> None:
        while True:
            loop, done, context, fn, args = self._pages.get()
            try:
                context.run(fn, *args)
            except BaseException as exc:  # noqa: BLE001 - the page's caller on the loop raises it
                outcome = exc
            else:
                outcome = None
            try:
                loop.call_soon_threadsafe(_settle, done, outcome)
            except RuntimeError:  # pragma: no cover - the loop closed meanwhile: nobody waits
                pass
            del loop, done, context, fn, args, outcome  # hold nothing of the page while waiting


def _settle(done: asyncio.Future, outcome: BaseException | None) -> None:
    if done.done():  # the waiting task was cancelled
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)


class WSGIPages(WSGIMiddleware):
    """`a2wsgi.WSGIMiddleware` whose page threads wait neither for the body nor for the loop to
    take each response message, nor pass through an executor's futures."""

    def __init__(self, app, workers: int = 10, send_queue_size: int = 10) -> None:
        self.app = app
        self.send_queue_size = send_queue_size
        self.executor = _Threads(workers)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            return await _Responder(self.app, self.executor, self.send_queue_size)(scope, receive, send)
        return await super().__call__(scope, receive, send)
