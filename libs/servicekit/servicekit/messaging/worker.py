"""The worker process of a service: outbox relay, event consumers and scheduled jobs.

    worker = Worker(settings, db)

    @worker.handler("identity", "family.registered.v1", name="send_activation_email")
    def send_activation_email(session, envelope): ...

    @worker.every(60, name="expire_carts")
    def expire_carts(db): ...

    worker.run()   # blocks until SIGTERM/SIGINT or worker.stop()

Each part runs in its own thread with its own broker connection (py-amqp connections are not
thread-safe). On PostgreSQL the relay and the consumers use connections of their own, without
the pool's pre-ping (`events_db`): both run a transaction that failed because its connection
was lost again at once on a new connection, so a ping's round trip before every transaction
buys nothing. The relay always runs: every service database has an outbox; so do the hourly
retention jobs (published outbox events older than OUTBOX_RETENTION_HOURS, inbox rows older
than INBOX_RETENTION_DAYS: servicekit.messaging.retention).
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence

from servicekit import gcfreeze
from servicekit.db import Database
from servicekit.messaging import retention
from servicekit.messaging.broker import close_quietly, connect
from servicekit.messaging.consumer import ConsumerLoop, Handler, HandlerFn, declare_topology
from servicekit.messaging.deferred import multi_row_inserts
from servicekit.messaging.jobs import Job, JobFn, JobRunner
from servicekit.messaging.names import consumer_queue
from servicekit.messaging.relay import Relay
from servicekit.messaging.retries import RetryPolicy
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

JOIN_SECONDS = 15.0
# One (ADR 0013): every consumer thread shares the process's GIL, so more threads mean more
# wake-ups and hand-offs per event and a higher latency, measured on a quiet machine; a drain
# still keeps up with raw kombu. A service whose handlers wait on the network asks for more.
DEFAULT_CONSUMER_THREADS = 1


class _AllReady:
    """The consumer threads' shared `ready`: sets the worker's once each thread has set it (a thread
    sets it again on every reconnection; counted once)."""

    def __init__(self, count: int, ready: threading.Event):
        self._count = count
        self._ready = ready
        self._threads: set[int] = set()
        self._lock = threading.Lock()

    def set(self) -> None:
        with self._lock:
            self._threads.add(threading.get_ident())
            if len(self._threads) >= self._count:
                self._ready.set()


class Worker:
    def __init__(self, settings: ServiceSettings, db: Database, *, max_retries: int = 5,
                 retry_delays_ms: Sequence[int] = (1000, 5000, 30000, 120000, 600000), prefetch: int = 100,
                 consumer_threads: int | None = None):
        if not settings.service:
            raise ValueError("settings.service must name the service")
        self.settings = settings
        self.db = db
        self.policy = RetryPolicy.of(max_retries, retry_delays_ms)
        self.prefetch = prefetch
        # Each consumer thread has its own broker connection and database transaction: while one
        # waits (a slow handler), another runs (ADR 0006, 0013). SQLite has one writer at a time.
        if consumer_threads is None:
            consumer_threads = DEFAULT_CONSUMER_THREADS
        self.consumer_threads = consumer_threads
        if self.consumer_threads < 1:
            raise ValueError("consumer_threads must be at least 1")
        self.handlers: list[Handler] = []
        self.jobs: list[Job] = []
        # Set once every consumer thread has declared its queues and started consuming (at once
        # when there are no handlers): tests and start-up scripts can wait on it, and nothing
        # the consumers do on starting (their "consuming" log) comes after it.
        self.ready = threading.Event()
        self._stop = threading.Event()
        self.events_db = db if db.is_sqlite else Database(db.url, **{**db._engine_kwargs, "pool_pre_ping": False})
        if not db.is_sqlite:
            multi_row_inserts(self.events_db.engine)  # the consumers' deferred INSERTs (messaging.deferred)
        for job in retention.jobs(settings):  # outbox and inbox retention
            self.every(job.seconds, name=job.name)(job.fn)

    @property
    def service(self) -> str:
        return self.settings.service

    @property
    def queues(self) -> list[str]:
        """The consumer queue names (`<service>.<handler name>`), e.g. for the dlq command."""
        return [h.queue for h in self.handlers]

    def declare_queues(self) -> list[str]:
        """Declare the consumers' durable queues and bindings (with their delay queues and DLQs)
        now, as the consumers do when they start, and return their names. `migrate` calls it:
        a queue exists from the service's first deployment on, so events published before its
        worker first runs (another service's seed, a worker started later) wait in it instead
        of reaching only the services whose workers happened to be up (a topic exchange routes
        a message to the queues bound at the instant it is published; mandatory publishing
        only notices when there are none at all). Raises BROKER_ERRORS when the broker is away."""
        if not self.handlers:
            return []
        conn = connect(self.settings.amqp_url)
        try:
            declare_topology(conn.channel(), self.handlers, self.policy)
        finally:
            close_quietly(conn)
        return self.queues

    def handler(self, source: str, event_type: str, name: str) -> Callable[[HandlerFn], HandlerFn]:
        """Register `fn(session, envelope)` for events `event_type` of `source` on queue `<service>.<name>`."""
        def register(fn: HandlerFn) -> HandlerFn:
            queue = consumer_queue(self.service, name)
            if queue in self.queues:
                raise ValueError(f"handler name {name!r} is already used")
            self.handlers.append(Handler(source, event_type, name, queue, fn))
            return fn
        return register

    def every(self, seconds: float, name: str) -> Callable[[JobFn], JobFn]:
        """Register `fn(db)` to run every `seconds` (first run at start)."""
        if seconds <= 0:
            raise ValueError("seconds must be positive")

        def register(fn: JobFn) -> JobFn:
            if any(j.name == name for j in self.jobs):
                raise ValueError(f"job name {name!r} is already used")
            self.jobs.append(Job(name, seconds, fn))
            return fn
        return register

    def run(self) -> None:
        """Run the relay, the consumers and the jobs until stop() or SIGTERM/SIGINT (once: a
        stopped Worker stays stopped, so a stop() that comes before run() is not lost)."""
        restore = self._install_signal_handlers()
        if threading.current_thread() is threading.main_thread():
            gcfreeze.freeze_what_is_alive()  # a worker process (tests run workers in threads of their own process)
        relay = Relay(self.service, self.events_db, self.settings.amqp_url, max_attempts=self.settings.outbox_max_attempts)
        threads = [self._thread("relay", relay.run)]
        if self.handlers:
            all_ready = _AllReady(self.consumer_threads, self.ready)
            for n in range(self.consumer_threads):
                consumers = ConsumerLoop(self.service, self.events_db, self.settings.amqp_url, self.handlers,
                                         self.policy, self.prefetch, all_ready)
                threads.append(self._thread(f"consumers-{n}", consumers.run))
        else:
            self.ready.set()
        threads += [self._thread(f"job-{job.name}", JobRunner(self.service, self.db, job).run) for job in self.jobs]
        log.info("worker %s started: %d handler(s), %d job(s)", self.service, len(self.handlers), len(self.jobs))
        try:
            for t in threads:
                t.start()
            while not self._stop.wait(0.5):
                pass
        finally:
            self._stop.set()
            for t in threads:
                t.join(JOIN_SECONDS)
                if t.is_alive():
                    log.error("worker thread %s did not stop within %.0fs", t.name, JOIN_SECONDS)
            restore()
            if self.events_db is not self.db:
                self.events_db.dispose()
            log.info("worker %s stopped", self.service)

    def stop(self) -> None:
        self._stop.set()

    def _thread(self, name: str, target: Callable[[threading.Event], None]) -> threading.Thread:
        return threading.Thread(target=target, args=(self._stop,), name=f"{self.service}-{name}", daemon=True)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # signals can only be handled in the main thread (e.g. tests)

        def on_signal(signum, _frame):
            log.info("received %s, stopping", signal.Signals(signum).name)
            self.stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]
